// ivr/flow.h — the parsed form of a flow (private to src/ivr and its tests).
// compile() produces it; the Runner walks it. Every node reference in a
// compiled Flow names an existing node, so lookups in `nodes` never fail.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ivr/ivr.h"

namespace hotline::ivr {

enum class NodeType : std::uint8_t {
  kPlay,
  kMenu,
  kCollect,
  kHours,
  kLookup,
  kSet,
  kQueue,
  kVoicemail,
  kTransfer,
  kHangup,
};

// One node; only the fields of its type are meaningful (docs/ivr.md).
struct Node {
  std::string id;
  NodeType type = NodeType::kHangup;
  std::vector<std::string> prompts;
  std::string next;  // play, collect, set
  // menu / collect
  std::map<char, std::string> options;
  int timeout_s = 5;
  int retries = 2;
  std::vector<std::string> invalid_prompts;
  std::vector<std::string> timeout_prompts;
  std::string on_failure;
  std::string variable;
  int min_digits = 1;
  int max_digits = 16;
  char terminator = '#';
  // hours
  std::string calendar, open, closed;
  // lookup
  std::string vip, blocked, known, unknown;
  // set / queue
  std::string language;  // set: "" = unchanged
  int priority = 0;
  std::vector<SkillNeed> skills;
  std::map<std::string, std::string> attributes;
  std::string queue;
  // voicemail / transfer
  std::string mailbox;
  int max_message_s = 120;
  std::string number, trunk;
};

struct Flow {
  std::string start;
  std::string language = "zh-CN";
  std::map<std::string, Node> nodes;
};

// An outgoing edge: the field that holds it ("options.1") and its target.
struct Edge {
  std::string field;
  std::string target;
};
std::vector<Edge> edges(const Node& node);

// Nodes that never wait for the caller: a cycle made only of these loops forever.
inline bool passes_through(NodeType t) {
  return t == NodeType::kPlay || t == NodeType::kHours || t == NodeType::kLookup || t == NodeType::kSet;
}
inline bool is_terminal(NodeType t) { return t >= NodeType::kQueue; }

}  // namespace hotline::ivr
