#include "sip/dialog.h"

#include <algorithm>

namespace hotline::sip {
namespace {

std::string without_tag(std::string_view header_value) {
  auto na = NameAddr::parse(header_value);
  if (!na) return std::string(header_value);
  std::erase_if(na->params, [](const Param& p) { return iequals(p.name, "tag"); });
  return na->str();
}

std::string contact_uri(const Message& m) {
  auto c = m.values(HeaderId::kContact);
  if (c.empty()) return {};
  auto na = NameAddr::parse(c.front());
  return na ? na->uri.str() : std::string();
}

}  // namespace

const char* dialog_state_name(DialogState s) {
  switch (s) {
    case DialogState::kEarly:
      return "Early";
    case DialogState::kConfirmed:
      return "Confirmed";
    case DialogState::kTerminated:
      return "Terminated";
  }
  return "?";
}

DialogState dialog_transition(DialogState s, DialogEvent e) {
  switch (s) {
    case DialogState::kEarly:
      switch (e) {
        case DialogEvent::kProvisional:
          return DialogState::kEarly;
        case DialogEvent::kSuccess:
          return DialogState::kConfirmed;
        case DialogEvent::kFailure:
        case DialogEvent::kBye:
        case DialogEvent::kNoAck:
        case DialogEvent::kGone:
          return DialogState::kTerminated;
      }
      break;
    case DialogState::kConfirmed:
      switch (e) {
        case DialogEvent::kProvisional:
        case DialogEvent::kSuccess:
        case DialogEvent::kFailure:  // a failed re-INVITE keeps the session (§14.1)
          return DialogState::kConfirmed;
        case DialogEvent::kBye:
        case DialogEvent::kNoAck:
        case DialogEvent::kGone:
          return DialogState::kTerminated;
      }
      break;
    case DialogState::kTerminated:
      return DialogState::kTerminated;
  }
  return s;
}

Message Dialog::make_request(std::string_view method, std::uint32_t ack_cseq) {
  std::string ruri = remote_target;
  std::vector<std::string> routes = route_set;
  if (!routes.empty()) {
    auto first = NameAddr::parse(routes.front());
    if (first && !first->uri.param("lr")) {
      // Strict routing (§12.2.1.1): first route becomes the Request-URI,
      // the remote target goes last in Route.
      Uri u = first->uri;
      u.params.clear();
      ruri = u.str();
      routes.erase(routes.begin());
      routes.push_back("<" + remote_target + ">");
    }
  }
  Message m = Message::request(method, ruri);
  m.add_header(HeaderId::kMaxForwards, "70");
  m.add_header(HeaderId::kFrom, local_uri + ";tag=" + local_tag);
  m.add_header(HeaderId::kTo, remote_uri + (remote_tag.empty() ? "" : ";tag=" + remote_tag));
  m.add_header(HeaderId::kCallId, call_id);
  std::uint32_t n = method == "ACK" ? ack_cseq : ++local_cseq;
  m.add_header(HeaderId::kCSeq, std::to_string(n) + " " + std::string(method));
  for (const auto& r : routes) m.add_header(HeaderId::kRoute, r);
  if (method == "INVITE" || method == "UPDATE") m.add_header(HeaderId::kContact, "<" + local_contact + ">");
  return m;
}

void Dialog::refresh_target(const Message& m) {
  std::string c = contact_uri(m);
  if (!c.empty()) remote_target = c;
}

Dialog* DialogManager::create_uas(const Message& invite, const Peer& from, std::string local_tag,
                                  std::string local_contact) {
  if (dialogs_.size() >= max_) return nullptr;
  auto d = std::make_unique<Dialog>();
  d->call_id = std::string(invite.call_id());
  d->local_tag = std::move(local_tag);
  d->remote_tag = invite.from_tag();
  d->local_uri = without_tag(invite.header(HeaderId::kTo));
  d->remote_uri = without_tag(invite.header(HeaderId::kFrom));
  d->remote_target = contact_uri(invite);
  for (auto rr : invite.values(HeaderId::kRecordRoute)) d->route_set.emplace_back(rr);
  d->remote_cseq = invite.cseq();
  d->remote_cseq_known = true;
  d->local_cseq = 0;
  d->is_uac = false;
  d->peer = from;
  d->local_contact = std::move(local_contact);
  std::string key = d->key();
  auto [it, inserted] = dialogs_.emplace(key, std::move(d));
  return it->second.get();
}

Dialog* DialogManager::create_uac(const Message& invite, const Message& response, const Peer& to,
                                  std::string local_contact) {
  std::string key = std::string(invite.call_id()) + "|" + invite.from_tag() + "|" + response.to_tag();
  if (auto it = dialogs_.find(key); it != dialogs_.end()) return it->second.get();
  if (dialogs_.size() >= max_ || response.to_tag().empty()) return nullptr;
  auto d = std::make_unique<Dialog>();
  d->call_id = std::string(invite.call_id());
  d->local_tag = invite.from_tag();
  d->remote_tag = response.to_tag();
  d->local_uri = without_tag(invite.header(HeaderId::kFrom));
  d->remote_uri = without_tag(response.header(HeaderId::kTo));
  d->remote_target = contact_uri(response);
  if (d->remote_target.empty()) d->remote_target = std::string(invite.request_uri());
  auto rr = response.values(HeaderId::kRecordRoute);
  for (auto it = rr.rbegin(); it != rr.rend(); ++it) d->route_set.emplace_back(*it);
  d->local_cseq = invite.cseq();
  d->invite_cseq = invite.cseq();
  d->is_uac = true;
  d->peer = to;
  d->local_contact = std::move(local_contact);
  auto [it, inserted] = dialogs_.emplace(key, std::move(d));
  return it->second.get();
}

Dialog* DialogManager::find(const std::string& key) {
  auto it = dialogs_.find(key);
  return it == dialogs_.end() ? nullptr : it->second.get();
}

Dialog* DialogManager::find_for_request(const Message& req) {
  return find(std::string(req.call_id()) + "|" + req.to_tag() + "|" + req.from_tag());
}

Dialog* DialogManager::find_for_response(const Message& resp) {
  return find(std::string(resp.call_id()) + "|" + resp.from_tag() + "|" + resp.to_tag());
}

void DialogManager::remove(const std::string& key) { dialogs_.erase(key); }

int DialogManager::check_request(Dialog& d, const Message& req) {
  std::string_view method = req.method();
  if (method == "ACK" || method == "CANCEL") return 0;
  // §12.2.2: lower CSeq than the last one seen is out of order.
  if (d.remote_cseq_known && req.cseq() <= d.remote_cseq) {
    if (req.cseq() < d.remote_cseq || method != "BYE") return 500;
  }
  if (method == "INVITE") {
    if (d.local_invite_pending) return 491;   // glare (§14.2)
    if (d.remote_invite_pending) return 500;  // with Retry-After
  }
  d.remote_cseq = req.cseq();
  d.remote_cseq_known = true;
  return 0;
}

}  // namespace hotline::sip
