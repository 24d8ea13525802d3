// sip/md5.h — MD5 (RFC 1321) for HTTP Digest only.
//
// Digest authentication (RFC 7616 with the MD5 that deployed phones speak)
// hashes a few short strings per REGISTER; through OpenSSL's EVP layer the
// setup cost more than the hashing. This is a plain streaming
// implementation of the RFC's algorithm. MD5 is broken for collision
// resistance: never use it for anything but the digest interoperability it
// exists for.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hotline::sip {

class Md5 {
 public:
  static constexpr std::size_t kDigestSize = 16;
  using Digest = std::array<unsigned char, kDigestSize>;

  Md5();
  void update(std::string_view data);
  Digest finish();  // the object must not be updated afterwards

 private:
  void block(const unsigned char* p);
  std::array<std::uint32_t, 4> state_;
  std::uint64_t length_ = 0;  // bytes hashed so far
  std::array<unsigned char, 64> buffer_{};
};

}  // namespace hotline::sip
