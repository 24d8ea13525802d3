// libFuzzer target: SDP parse, offer/answer and the negotiated result.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sip/sdp.h"

using namespace hotline::sip;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  auto s = sdp::parse(input);
  if (!s) return 0;
  for (size_t i = 0; i < s->media.size(); ++i) (void)s->is_hold(i);
  (void)sdp::negotiated(*s);
  sdp::LocalMedia local;
  local.address = "192.0.2.1";
  local.port = 4000;
  auto a = sdp::answer(*s, local);
  if (a) {
    // Our own output must parse.
    if (!sdp::parse(a->str())) __builtin_trap();
  }
  if (!sdp::parse(s->str())) __builtin_trap();
  return 0;
}
