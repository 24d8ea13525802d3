// sip/sdp.h — SDP (RFC 4566) parse/build and audio offer/answer (RFC 3264).
//
// Only what a contact-center needs: audio streams, codecs by payload type and
// rtpmap, telephone-event (RFC 4733), direction attributes and hold, and `c=`
// at session or media level. Other media lines are parsed and kept so that an
// answer can reject them (port 0) in the right position, as §6 requires.
//
//   auto offer = sdp::parse(body);                 // Result<Session>
//   sdp::AnswerOptions opt{local_ip, rtp_port, {kPcmu, kPcma}, 101};
//   auto answer = sdp::answer(*offer, opt);        // Result<Session>
//   std::string text = answer->str();
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace hotline::sip::sdp {

enum class Direction { kSendRecv, kSendOnly, kRecvOnly, kInactive };
std::string_view to_string(Direction d);
// The direction the answerer uses for a given offered direction (§6.1).
Direction answer_direction(Direction offered, Direction wanted);

struct Codec {
  int payload_type = -1;
  std::string name;  // "PCMU", "telephone-event" (case kept)
  int clock_rate = 8000;
  int channels = 1;
  std::string fmtp;  // a=fmtp value, if any
};

struct Media {
  std::string type = "audio";  // audio, video, application…
  std::uint16_t port = 0;
  int port_count = 1;
  std::string proto = "RTP/AVP";
  std::vector<int> formats;   // m= line formats (payload types) in order
  std::vector<Codec> codecs;  // resolved: rtpmap or static payload types
  std::string connection;     // media-level c= address ("" = use session)
  Direction direction = Direction::kSendRecv;
  bool direction_explicit = false;
  int ptime = 0;
  std::vector<std::string> other_attributes;  // kept verbatim ("rtcp:…")
  const Codec* codec(int pt) const;
};

struct Session {
  std::string origin_user = "-";
  std::uint64_t session_id = 0;
  std::uint64_t session_version = 0;
  std::string origin_address = "0.0.0.0";
  std::string origin_addrtype = "IP4";
  std::string name = "-";
  std::string connection;  // session-level c= address
  std::string connection_addrtype = "IP4";
  Direction direction = Direction::kSendRecv;  // session-level attribute
  std::vector<Media> media;

  std::string str() const;
  // Connection address effective for media i (media level wins).
  std::string connection_for(size_t i) const;
  // Effective direction of media i (media attribute wins over session).
  Direction direction_for(size_t i) const;
  // RFC 3264 §8.4 (and the older 0.0.0.0 form of RFC 2543): is the peer
  // putting us on hold for media i?
  bool is_hold(size_t i) const;
};

common::Result<Session> parse(std::string_view text);

// Static payload types from RFC 3551 that we know by number.
inline constexpr int kPcmu = 0;
inline constexpr int kPcma = 8;
inline constexpr int kG722 = 9;

struct LocalMedia {
  std::string address;  // our RTP address
  std::uint16_t port = 0;
  // Codecs we accept, in our order of preference (payload numbers for
  // static types; dynamic ones by name).
  std::vector<Codec> codecs = {Codec{kPcmu, "PCMU", 8000, 1, {}}, Codec{kPcma, "PCMA", 8000, 1, {}}};
  int telephone_event_pt = 101;  // -1 to disable RFC 4733 events
  Direction direction = Direction::kSendRecv;
  std::uint64_t session_id = 0;
  std::uint64_t session_version = 0;
};

// Builds an offer with one audio stream.
Session offer(const LocalMedia& local);
// Builds the answer to `offer`: the first audio stream with a common codec
// is accepted (answerer keeps the offerer's payload numbers, §6.1), the
// others are rejected with port 0. Error "not_acceptable" (-> 488) if no
// audio stream has a common codec.
common::Result<Session> answer(const Session& offer, const LocalMedia& local);

// The negotiated result of an offer/answer exchange, for the media layer:
// pass the remote answer (or, as answerer, our own answer with the remote
// address taken from the offer — see negotiated_from_answer()).
struct Negotiated {
  std::string remote_address;
  std::uint16_t remote_port = 0;
  Codec codec;
  int telephone_event_pt = -1;
  Direction direction = Direction::kSendRecv;  // from our point of view
};
// First active audio stream of `remote`: its address, first codec and
// telephone-event; direction from our point of view.
common::Result<Negotiated> negotiated(const Session& remote);

}  // namespace hotline::sip::sdp
