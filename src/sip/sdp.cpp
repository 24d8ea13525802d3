#include "sip/sdp.h"

#include <charconv>

#include "sip/uri.h"

namespace hotline::sip::sdp {
namespace {

using common::Error;
using common::Result;

bool to_int(std::string_view s, long long& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t st = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > st) out.push_back(s.substr(st, i - st));
  }
  return out;
}

std::optional<Direction> parse_direction(std::string_view a) {
  if (a == "sendrecv") return Direction::kSendRecv;
  if (a == "sendonly") return Direction::kSendOnly;
  if (a == "recvonly") return Direction::kRecvOnly;
  if (a == "inactive") return Direction::kInactive;
  return std::nullopt;
}

// RFC 3551 static audio payload types.
std::optional<Codec> static_codec(int pt) {
  switch (pt) {
    case 0:
      return Codec{0, "PCMU", 8000, 1, {}};
    case 3:
      return Codec{3, "GSM", 8000, 1, {}};
    case 8:
      return Codec{8, "PCMA", 8000, 1, {}};
    case 9:
      return Codec{9, "G722", 8000, 1, {}};
    case 18:
      return Codec{18, "G729", 8000, 1, {}};
    default:
      return std::nullopt;
  }
}

bool same_codec(const Codec& a, const Codec& b) {
  return iequals(a.name, b.name) && a.clock_rate == b.clock_rate && a.channels == b.channels;
}

// c=IN IP4 addr[/ttl]
bool parse_connection(std::string_view v, std::string& addr, std::string& type) {
  auto w = words(v);
  if (w.size() < 3 || w[0] != "IN") return false;
  type = std::string(w[1]);
  std::string_view a = w[2];
  size_t slash = a.find('/');
  addr = std::string(a.substr(0, slash));
  return !addr.empty();
}

}  // namespace

std::string_view to_string(Direction d) {
  switch (d) {
    case Direction::kSendRecv:
      return "sendrecv";
    case Direction::kSendOnly:
      return "sendonly";
    case Direction::kRecvOnly:
      return "recvonly";
    case Direction::kInactive:
      return "inactive";
  }
  return "sendrecv";
}

Direction answer_direction(Direction offered, Direction wanted) {
  // §6.1: sendonly -> recvonly/inactive, recvonly -> sendonly/inactive,
  // inactive -> inactive, sendrecv -> anything.
  auto can_send = [](Direction d) { return d == Direction::kSendRecv || d == Direction::kSendOnly; };
  auto can_recv = [](Direction d) { return d == Direction::kSendRecv || d == Direction::kRecvOnly; };
  bool send = can_send(wanted) && can_recv(offered);
  bool recv = can_recv(wanted) && can_send(offered);
  if (send && recv) return Direction::kSendRecv;
  if (send) return Direction::kSendOnly;
  if (recv) return Direction::kRecvOnly;
  return Direction::kInactive;
}

const Codec* Media::codec(int pt) const {
  for (const auto& c : codecs)
    if (c.payload_type == pt) return &c;
  return nullptr;
}

Result<Session> parse(std::string_view text) {
  Session s;
  bool have_v = false, have_o = false;
  Media* cur = nullptr;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.size() < 2 || line[1] != '=') return Error::invalid("sdp", "malformed line");
    char type = line[0];
    std::string_view v = line.substr(2);
    switch (type) {
      case 'v':
        if (v != "0") return Error::invalid("sdp", "unsupported SDP version");
        have_v = true;
        break;
      case 'o': {
        auto w = words(v);
        if (w.size() != 6) return Error::invalid("sdp", "malformed o= line");
        long long id, ver;
        if (!to_int(w[1], id) || !to_int(w[2], ver)) {
          // Some phones use ids above 2**63 or non-numeric; keep going.
          id = 0;
          ver = 0;
        }
        s.origin_user = std::string(w[0]);
        s.session_id = static_cast<std::uint64_t>(id);
        s.session_version = static_cast<std::uint64_t>(ver);
        s.origin_addrtype = std::string(w[4]);
        s.origin_address = std::string(w[5]);
        have_o = true;
        break;
      }
      case 's':
        s.name = std::string(v);
        break;
      case 'c': {
        std::string addr, at;
        if (!parse_connection(v, addr, at)) return Error::invalid("sdp", "malformed c= line");
        if (cur) {
          cur->connection = addr;
        } else {
          s.connection = addr;
          s.connection_addrtype = at;
        }
        break;
      }
      case 'm': {
        auto w = words(v);
        if (w.size() < 3) return Error::invalid("sdp", "malformed m= line");
        Media m;
        m.type = std::string(w[0]);
        std::string_view port = w[1];
        size_t slash = port.find('/');
        long long p, count = 1;
        if (!to_int(port.substr(0, slash), p) || p < 0 || p > 65535) return Error::invalid("sdp", "bad port");
        if (slash != std::string_view::npos &&
            (!to_int(port.substr(slash + 1), count) || count < 1 || count > 65535))
          return Error::invalid("sdp", "bad port count");
        m.port = static_cast<std::uint16_t>(p);
        m.port_count = static_cast<int>(count);
        m.proto = std::string(w[2]);
        bool rtp = m.proto.find("RTP/") != std::string::npos;
        for (size_t i = 3; i < w.size(); ++i) {
          long long pt;
          if (rtp) {
            if (!to_int(w[i], pt) || pt < 0 || pt > 127) return Error::invalid("sdp", "bad payload type");
            m.formats.push_back(static_cast<int>(pt));
            if (auto c = static_codec(static_cast<int>(pt)); c && m.type == "audio") m.codecs.push_back(*c);
          }
        }
        if (s.media.size() >= 64) return Error::invalid("sdp", "too many media lines");
        s.media.push_back(std::move(m));
        cur = &s.media.back();
        break;
      }
      case 'a': {
        size_t colon = v.find(':');
        std::string_view name = v.substr(0, colon);
        std::string_view val = colon == std::string_view::npos ? std::string_view() : v.substr(colon + 1);
        if (auto d = parse_direction(name)) {
          if (cur) {
            cur->direction = *d;
            cur->direction_explicit = true;
          } else {
            s.direction = *d;
          }
        } else if (cur && name == "rtpmap") {
          // a=rtpmap:<pt> <name>/<rate>[/<channels>]
          size_t sp = val.find(' ');
          long long pt;
          if (sp == std::string_view::npos || !to_int(val.substr(0, sp), pt) || pt < 0 || pt > 127)
            return Error::invalid("sdp", "malformed rtpmap");
          std::string_view enc = val.substr(sp + 1);
          size_t s1 = enc.find('/');
          if (s1 == std::string_view::npos) return Error::invalid("sdp", "malformed rtpmap");
          Codec c;
          c.payload_type = static_cast<int>(pt);
          c.name = std::string(enc.substr(0, s1));
          std::string_view rate = enc.substr(s1 + 1);
          size_t s2 = rate.find('/');
          long long r, ch = 1;
          // Bounded so the value fits an int and survives re-serialisation
          // (found by fuzz_sdp: a 17-digit rate wrapped negative).
          if (!to_int(rate.substr(0, s2), r) || r <= 0 || r > 10'000'000)
            return Error::invalid("sdp", "malformed rtpmap rate");
          if (s2 != std::string_view::npos && (!to_int(rate.substr(s2 + 1), ch) || ch <= 0 || ch > 255))
            return Error::invalid("sdp", "malformed rtpmap channels");
          c.clock_rate = static_cast<int>(r);
          c.channels = static_cast<int>(ch);
          bool replaced = false;
          for (auto& existing : cur->codecs)
            if (existing.payload_type == c.payload_type) {
              c.fmtp = existing.fmtp;
              existing = c;
              replaced = true;
            }
          if (!replaced) cur->codecs.push_back(c);
        } else if (cur && name == "fmtp") {
          size_t sp = val.find(' ');
          long long pt;
          if (sp != std::string_view::npos && to_int(val.substr(0, sp), pt)) {
            for (auto& c : cur->codecs)
              if (c.payload_type == pt) c.fmtp = std::string(val.substr(sp + 1));
          }
        } else if (cur && name == "ptime") {
          long long pt;
          if (to_int(val, pt) && pt > 0 && pt < 1000) cur->ptime = static_cast<int>(pt);
        } else if (cur) {
          if (cur->other_attributes.size() < 64) cur->other_attributes.emplace_back(v);
        }
        break;
      }
      default:
        break;  // t=, b=, i=, e=, k=… are not needed for audio negotiation
    }
  }
  if (!have_v || !have_o) return Error::invalid("sdp", "missing v= or o= line");
  // Keep codec order as on the m= line.
  for (auto& m : s.media) {
    std::vector<Codec> ordered;
    for (int pt : m.formats)
      if (const Codec* c = m.codec(pt)) ordered.push_back(*c);
    m.codecs = std::move(ordered);
  }
  return s;
}

std::string Session::connection_for(size_t i) const {
  if (i < media.size() && !media[i].connection.empty()) return media[i].connection;
  return connection;
}

Direction Session::direction_for(size_t i) const {
  if (i < media.size() && media[i].direction_explicit) return media[i].direction;
  return direction;
}

bool Session::is_hold(size_t i) const {
  Direction d = direction_for(i);
  return d == Direction::kSendOnly || d == Direction::kInactive || connection_for(i) == "0.0.0.0";
}

std::string Session::str() const {
  std::string r;
  r.reserve(256);
  r += "v=0\r\n";
  r += "o=" + origin_user + " " + std::to_string(session_id) + " " + std::to_string(session_version) +
       " IN " + origin_addrtype + " " + origin_address + "\r\n";
  r += "s=" + (name.empty() ? std::string("-") : name) + "\r\n";
  if (!connection.empty()) r += "c=IN " + connection_addrtype + " " + connection + "\r\n";
  r += "t=0 0\r\n";
  for (const auto& m : media) {
    r += "m=" + m.type + " " + std::to_string(m.port) + " " + m.proto;
    for (int f : m.formats) r += " " + std::to_string(f);
    r += "\r\n";
    if (!m.connection.empty())
      r += "c=IN " + std::string(m.connection.find(':') != std::string::npos ? "IP6" : "IP4") + " " +
           m.connection + "\r\n";
    for (const auto& c : m.codecs) {
      r += "a=rtpmap:" + std::to_string(c.payload_type) + " " + c.name + "/" + std::to_string(c.clock_rate);
      if (c.channels != 1) r += "/" + std::to_string(c.channels);
      r += "\r\n";
      if (!c.fmtp.empty()) r += "a=fmtp:" + std::to_string(c.payload_type) + " " + c.fmtp + "\r\n";
    }
    if (m.ptime) r += "a=ptime:" + std::to_string(m.ptime) + "\r\n";
    for (const auto& a : m.other_attributes) r += "a=" + a + "\r\n";
    if (m.port != 0) r += "a=" + std::string(to_string(m.direction)) + "\r\n";
  }
  return r;
}

namespace {
Session skeleton(const LocalMedia& local) {
  Session s;
  s.session_id = local.session_id;
  s.session_version = local.session_version;
  s.origin_address = local.address;
  s.origin_addrtype = local.address.find(':') != std::string::npos ? "IP6" : "IP4";
  s.origin_user = "hotline";
  s.connection = local.address;
  s.connection_addrtype = s.origin_addrtype;
  return s;
}
}  // namespace

Session offer(const LocalMedia& local) {
  Session s = skeleton(local);
  Media m;
  m.port = local.port;
  for (const auto& c : local.codecs) {
    m.formats.push_back(c.payload_type);
    m.codecs.push_back(c);
  }
  if (local.telephone_event_pt >= 0) {
    m.formats.push_back(local.telephone_event_pt);
    m.codecs.push_back(Codec{local.telephone_event_pt, "telephone-event", 8000, 1, "0-16"});
  }
  m.direction = local.direction;
  m.direction_explicit = true;
  s.media.push_back(std::move(m));
  return s;
}

Result<Session> answer(const Session& off, const LocalMedia& local) {
  Session s = skeleton(local);
  bool accepted = false;
  for (size_t i = 0; i < off.media.size(); ++i) {
    const Media& om = off.media[i];
    Media am;
    am.type = om.type;
    am.proto = om.proto;
    am.port = 0;
    am.formats = om.formats.empty() ? std::vector<int>{0} : std::vector<int>{om.formats.front()};
    bool rtp_audio = om.type == "audio" && om.port != 0 && om.proto.find("RTP/") != std::string::npos &&
                     om.proto.find("SAVP") == std::string::npos;
    if (!accepted && rtp_audio) {
      // Our preference order, the offerer's payload numbers (§6.1).
      const Codec* chosen = nullptr;
      for (const auto& mine : local.codecs) {
        for (const auto& theirs : om.codecs)
          if (same_codec(mine, theirs)) {
            chosen = &theirs;
            break;
          }
        if (chosen) break;
      }
      if (chosen) {
        accepted = true;
        am.port = local.port;
        am.formats = {chosen->payload_type};
        am.codecs = {*chosen};
        if (local.telephone_event_pt >= 0) {
          for (const auto& theirs : om.codecs)
            if (iequals(theirs.name, "telephone-event") && theirs.clock_rate == chosen->clock_rate) {
              am.formats.push_back(theirs.payload_type);
              am.codecs.push_back(theirs);
              break;
            }
        }
        am.ptime = om.ptime;
        am.direction = answer_direction(off.direction_for(i), local.direction);
        am.direction_explicit = true;
      }
    }
    s.media.push_back(std::move(am));
  }
  if (!accepted) return Error{"not_acceptable", "no common audio codec", {}};
  return s;
}

Result<Negotiated> negotiated(const Session& remote) {
  for (size_t i = 0; i < remote.media.size(); ++i) {
    const Media& m = remote.media[i];
    if (m.type != "audio" || m.port == 0) continue;
    Negotiated n;
    n.remote_address = remote.connection_for(i);
    n.remote_port = m.port;
    bool have_codec = false;
    for (const auto& c : m.codecs) {
      if (iequals(c.name, "telephone-event")) {
        if (n.telephone_event_pt < 0) n.telephone_event_pt = c.payload_type;
      } else if (!have_codec) {
        n.codec = c;
        have_codec = true;
      }
    }
    if (!have_codec) continue;
    // Their sendonly is our recvonly and vice versa.
    switch (remote.direction_for(i)) {
      case Direction::kSendOnly:
        n.direction = Direction::kRecvOnly;
        break;
      case Direction::kRecvOnly:
        n.direction = Direction::kSendOnly;
        break;
      default:
        n.direction = remote.direction_for(i);
    }
    if (n.remote_address == "0.0.0.0") n.direction = Direction::kInactive;
    return n;
  }
  return Error{"not_acceptable", "no active audio stream", {}};
}

}  // namespace hotline::sip::sdp
