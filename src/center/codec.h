// center/codec.h — internal: the JSON form of every kind, its validation,
// and the whole-configuration consistency checks (references, uniqueness).
//
// parse_* functions take untrusted JSON and throw Invalid naming the field
// ("skills[1].level"); they are only called inside center/, which turns
// Invalid into a common::Error at the Repository boundary.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "center/center.h"

namespace hotline::center::detail {

struct Invalid {
  common::Error error;
};
[[noreturn]] void fail(const std::string& field, const std::string& message);

// Validated canonical JSON (defaults filled in, secrets included) of `body`
// for `kind`. `id` is set into the result (0 on create).
json canonical(Kind kind, const json& body, std::int64_t id);

// Adds the canonical document `doc` to the snapshot's vector for `kind`.
void add_object(Snapshot& s, Kind kind, std::int64_t id, const json& doc, int version);
void remove_object(Snapshot& s, Kind kind, std::int64_t id);
// The object (kind, id) in its public JSON form (no secrets), if present.
std::optional<json> public_json(const Snapshot& s, Kind kind, std::int64_t id);
std::vector<json> public_list(const Snapshot& s, Kind kind);
// Public JSON without secrets, from a canonical document.
json strip_secrets(Kind kind, json doc);

// The value that must be unique per (tenant, kind): the name, the number,
// the code, "name/language" for prompts; nullopt for customers.
std::optional<std::string> unique_key(Kind kind, const json& doc);
// Human name of an object for messages ("queue 'sales'").
std::string describe(Kind kind, const json& doc);

// One broken rule in a configuration.
struct Problem {
  Kind kind;
  std::int64_t id;
  std::string owner;  // describe() of the object with the problem
  std::string code;   // "invalid_argument" or "conflict"
  std::string field;
  std::string message;
  bool operator==(const Problem&) const = default;
};
std::vector<Problem> check(const Snapshot& s);

// Digits with an optional leading '+' ("+86 138-0000-0000" -> "+8613800000000");
// "" when `phone` has no digits.
std::string normalise_phone(std::string_view phone);

// An IPv4/IPv6 network: 16 bytes (IPv4 as ::ffff:a.b.c.d) and a prefix length.
struct Network {
  unsigned char addr[16] = {};
  int prefix = 0;  // 0..128 on the mapped form
};
std::optional<Network> parse_network(std::string_view text);  // "10.0.0.0/8", "2001:db8::1"
bool contains(const Network& net, const Network& host);

}  // namespace hotline::center::detail
