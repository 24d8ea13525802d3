#include "security/audit_chain.h"

#include <gtest/gtest.h>

using namespace hotline::security;

namespace {

std::vector<StoredAuditEntry> make_chain(int n) {
  std::vector<StoredAuditEntry> out;
  std::string prev = kGenesisHash;
  for (int i = 1; i <= n; ++i) {
    StoredAuditEntry e;
    e.fields = AuditFields{i,
                           1,
                           1000 + i,
                           "user:1:admin",
                           "127.0.0.1",
                           "user.update",
                           "user:" + std::to_string(i),
                           R"({"after":{"name":"x"}})"};
    e.prev_hash = prev;
    e.hash = audit_hash(prev, e.fields);
    prev = e.hash;
    out.push_back(e);
  }
  return out;
}

}  // namespace

TEST(AuditChain, IntactChainVerifies) {
  auto c = make_chain(10);
  EXPECT_FALSE(verify_chain(c, 10, c.back().hash).has_value());
}

TEST(AuditChain, EmptyChainVerifies) { EXPECT_FALSE(verify_chain({}, 0, kGenesisHash).has_value()); }

TEST(AuditChain, ModifiedFieldIsFirstBrokenLink) {
  auto c = make_chain(10);
  c[4].fields.details = R"({"after":{"name":"y"}})";
  auto b = verify_chain(c, 10, c.back().hash);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->seq, 5);
  EXPECT_NE(b->reason.find("modified"), std::string::npos);
}

TEST(AuditChain, RehashedEntryBreaksTheNextLink) {
  auto c = make_chain(10);
  c[4].fields.actor = "user:2:mallory";
  c[4].hash = audit_hash(c[4].prev_hash, c[4].fields);  // attacker recomputes one hash
  auto b = verify_chain(c, 10, c.back().hash);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->seq, 6);
}

TEST(AuditChain, DeletedEntryIsReported) {
  auto c = make_chain(10);
  c.erase(c.begin() + 3);
  auto b = verify_chain(c, 10, c.back().hash);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->seq, 4);
  EXPECT_NE(b->reason.find("missing"), std::string::npos);
}

TEST(AuditChain, TruncatedTailIsReported) {
  auto c = make_chain(10);
  auto head = c.back().hash;
  c.pop_back();
  auto b = verify_chain(c, 10, head);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->seq, 10);
}

TEST(AuditChain, FieldBoundariesCannotBeShifted) {
  AuditFields a{1, 1, 1, "ab", "c", "x", "y", "z"};
  AuditFields b{1, 1, 1, "a", "bc", "x", "y", "z"};
  EXPECT_NE(audit_hash(kGenesisHash, a), audit_hash(kGenesisHash, b));
}
