// tests/ivr/ivr_fixture.h — shared helpers for the IVR tests.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "ivr/ivr.h"

namespace hotline::ivr::testing {

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline json demo_flow() {
  return json::parse(read_text(std::string(HOTLINE_SOURCE_DIR) + "/tests/ivr/data/demo_flow.json"));
}

// References of a small tenant: the shipped prompt names, two queues, one
// calendar and one trunk.
inline References tenant_refs() {
  static const std::set<std::string> prompts = {
      "welcome",          "menu",     "invalid",        "goodbye", "closed",
      "queue_position",   "in_queue", "estimated_wait", "minutes", "callback_offer",
      "voicemail_prompt", "moh",      "enter_account"};
  References r;
  r.prompt = [](const std::string& n) { return prompts.count(n) > 0; };
  r.queue = [](const std::string& n) { return n == "sales" || n == "support"; };
  r.calendar = [](const std::string& n) { return n == "main"; };
  r.trunk = [](const std::string& n) { return n == "pstn"; };
  return r;
}

inline std::shared_ptr<const Flow> must_compile(const json& def, const References& refs = tenant_refs()) {
  auto r = compile(def, refs);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().field + ": " + r.error().message);
  return r.ok() ? *r : nullptr;
}

}  // namespace hotline::ivr::testing
