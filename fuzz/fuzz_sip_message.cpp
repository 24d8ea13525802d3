// libFuzzer target: the SIP message parser, stream framer and every header
// accessor the stack calls on untrusted input. Must never crash, hang or
// leak; every error is a value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sip/digest.h"
#include "sip/message.h"

using namespace hotline::sip;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  (void)frame_stream(input, 65535);
  for (Framing f : {Framing::kDatagram, Framing::kStream}) {
    auto m = Message::parse(input, f);
    if (!m) continue;
    (void)m->method();
    (void)m->cseq();
    (void)m->max_forwards();
    (void)m->expires();
    (void)m->from();
    (void)m->to();
    (void)m->top_via();
    (void)request_uri_status(*m);
    for (auto v : m->values(HeaderId::kVia)) (void)Via::parse(v);
    for (auto c : m->values(HeaderId::kContact)) (void)NameAddr::parse(c);
    for (auto r : m->values(HeaderId::kRoute)) (void)NameAddr::parse(r);
    for (auto a : m->values(HeaderId::kAuthorization)) (void)DigestCredentials::parse(a);
    for (auto a : m->values(HeaderId::kWwwAuthenticate)) (void)DigestChallenge::parse(a);
    (void)Uri::parse(m->request_uri());
    // Round trip: what we serialise must parse again.
    std::string wire = m->serialize();
    auto again = Message::parse(wire, Framing::kStream);
    if (!again) __builtin_trap();
    Message r = make_response(*m, 200);
    (void)r.serialize();
    // The identifiers kept by validation must equal a full parse's.
    auto from = m->from();
    auto to = m->to();
    if (!from || !to) __builtin_trap();  // validation accepted them
    if (m->from_tag() != from->tag() || m->to_tag() != to->tag()) __builtin_trap();
    auto via = m->top_via();
    if (!via) __builtin_trap();
    if (auto ids = m->via_ids();
        ids && (ids->branch != via->branch() || ids->host != via->host || ids->port != via->port))
      __builtin_trap();
    // The response Via (edited in place or re-serialised) must still parse.
    Peer peer{Transport::kUdp, "203.0.113.9", 40000, 0};
    Message rr = make_response(*m, 401, &peer);
    if (!Via::parse(first_list_item(rr.header(HeaderId::kVia)))) __builtin_trap();
  }
  return 0;
}
