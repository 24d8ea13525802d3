// sip/dialog.h — UAC and UAS dialogs (RFC 3261 §12–§15).
//
// A Dialog holds the state §12 defines (Call-ID, tags, CSeqs, remote target,
// route set) and builds in-dialog requests (§12.2.1.1, loose and strict
// routing). Its lifecycle is one explicit transition function,
// dialog_transition(), tested per transition. The DialogManager finds
// dialogs for incoming messages and enforces the in-dialog request rules:
// CSeq ordering (500), and re-INVITE glare (491 when our own re-INVITE is
// pending, 500 + Retry-After when theirs is, §14.2).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sip/message.h"
#include "sip/types.h"

namespace hotline::sip {

enum class DialogState : std::uint8_t { kEarly, kConfirmed, kTerminated };
enum class DialogEvent : std::uint8_t {
  kProvisional,  // 101–199 with a To-tag (creates or keeps an early dialog)
  kSuccess,      // 2xx to the INVITE (or to a re-INVITE)
  kFailure,      // 3xx–6xx to the INVITE (or to a re-INVITE)
  kBye,          // BYE sent or received
  kNoAck,        // our 2xx was never ACKed (§13.3.1.4)
  kGone,         // 481 or 408 to an in-dialog request (§12.2.1.2)
};
const char* dialog_state_name(DialogState s);
// The whole lifecycle. `initial` tells whether the INVITE transaction that
// created the dialog is still the one being answered (kFailure ends an early
// dialog, but a failed re-INVITE leaves a confirmed dialog as it was).
DialogState dialog_transition(DialogState s, DialogEvent e);

struct Dialog {
  std::string call_id;
  std::string local_tag, remote_tag;
  std::string local_uri, remote_uri;   // name-addr without tag
  std::string remote_target;           // remote Contact URI
  std::vector<std::string> route_set;  // Route values, in the order to send them
  std::uint32_t local_cseq = 0;
  std::uint32_t remote_cseq = 0;
  bool remote_cseq_known = false;
  bool is_uac = false;
  DialogState state = DialogState::kEarly;
  Peer peer;                  // flow to send in-dialog requests on (NAT-safe)
  std::string local_contact;  // our Contact URI
  bool local_invite_pending = false;
  bool remote_invite_pending = false;
  std::uint32_t invite_cseq = 0;  // CSeq of the INVITE/re-INVITE in progress (ours)

  std::string key() const { return call_id + "|" + local_tag + "|" + remote_tag; }
  void apply(DialogEvent e) { state = dialog_transition(state, e); }
  // §12.2.1.1. Increments local_cseq (except for ACK, which reuses the
  // INVITE's number; pass it). No Via: the stack adds it when sending.
  Message make_request(std::string_view method, std::uint32_t ack_cseq = 0);
  // Target refresh (§12.2): a re-INVITE/UPDATE or its 2xx with Contact.
  void refresh_target(const Message& m);
};

class DialogManager {
 public:
  explicit DialogManager(size_t max_dialogs = 50000) : max_(max_dialogs) {}
  // §12.1.1: the UAS side, from the INVITE and the To-tag we chose.
  Dialog* create_uas(const Message& invite, const Peer& from, std::string local_tag,
                     std::string local_contact);
  // §12.1.2: the UAC side, from our INVITE and a response with a To-tag.
  Dialog* create_uac(const Message& invite, const Message& response, const Peer& to,
                     std::string local_contact);
  // Incoming request: local tag = To-tag, remote = From-tag. Incoming
  // response: local = From-tag, remote = To-tag.
  Dialog* find_for_request(const Message& req);
  Dialog* find_for_response(const Message& resp);
  Dialog* find(const std::string& key);
  void remove(const std::string& key);
  size_t size() const { return dialogs_.size(); }
  // Rules for an in-dialog request; 0 = go ahead (remote CSeq updated).
  int check_request(Dialog& d, const Message& req);

 private:
  size_t max_;
  std::unordered_map<std::string, std::unique_ptr<Dialog>> dialogs_;
};

}  // namespace hotline::sip
