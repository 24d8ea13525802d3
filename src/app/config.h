// app/config.h — hotline's configuration: a TOML file plus HOTLINE_* overrides.
//
// Every key has a type, a default and a check. Loading rejects unknown keys,
// wrong types and bad values with a message that names the key, e.g.
//   config: http.max_body_bytes: must be between 1024 and 104857600 (got 12)
//
// Environment overrides: HOTLINE_<SECTION>_<KEY> in upper case, e.g.
// HOTLINE_HTTP_LISTEN=0.0.0.0:8080 or HOTLINE_STORAGE_URL=postgresql://...
// An unknown HOTLINE_* variable is an error too (a typo should not be silently
// ignored). HOTLINE_CONFIG (the config path) is the one exception.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hotline::app {

struct Config {
  // [http]
  std::string http_listen = "127.0.0.1:8080";
  std::string http_tls_cert;  // PEM path; HTTPS when both cert and key are set
  std::string http_tls_key;
  std::int64_t http_max_body_bytes = 1 << 20;
  std::int64_t http_max_header_bytes = 16 << 10;
  std::int64_t http_max_connections = 10000;
  std::int64_t http_idle_timeout_s = 60;
  std::int64_t http_request_timeout_s = 30;
  std::int64_t http_threads = 0;  // 0 = one per core
  std::int64_t http_drain_timeout_s = 30;
  // [sip]
  bool sip_enabled = true;
  std::string sip_udp = "0.0.0.0:5060";  // "" disables the transport
  std::string sip_tcp = "0.0.0.0:5060";
  std::string sip_tls;  // e.g. "0.0.0.0:5061"; needs tls_cert/tls_key
  std::string sip_tls_cert;
  std::string sip_tls_key;
  std::string sip_realm = "hotline";   // digest realm; extension HA1s are stored for it
  std::string sip_default_tenant;      // tenant for REGISTERs to a domain no tenant owns (e.g. an IP)
  std::string sip_advertised_address;  // our address in Via/Contact when behind NAT
  std::int64_t sip_min_expires_s = 60;
  std::int64_t sip_max_expires_s = 3600;
  std::int64_t sip_qualify_interval_s = 30;
  std::int64_t sip_t1_ms = 500;
  std::int64_t sip_max_message_bytes = 65535;
  // Per-source admission (sip::Guard): requests/s and burst per IP address;
  // trusted prefixes (comma-separated, e.g. "10.1.,192.0.2.7") and every
  // trunk's allowed sources bypass the limit.
  std::int64_t sip_rate_limit = 50;
  std::int64_t sip_rate_burst = 200;
  std::string sip_trusted_sources;
  // [media]
  std::int64_t media_rtp_port_min = 20000;
  std::int64_t media_rtp_port_max = 29999;
  std::int64_t media_loops = 0;       // media event loops; 0 = one per core
  std::string media_address;          // our RTP address in SDP ("" = the address the peer used)
  std::int64_t media_timeout_s = 30;  // hang up after this long without RTP; 0 = never
  std::string media_prompts_dir;      // shipped prompts ("" = next to the binary's build, then
                                      // /usr/share/hotline/prompts)
  std::string media_custom_prompts_dir = "var/prompts";
  // RTP I/O backend (media::EngineConfig::rtp_io): "auto", "epoll" or "io_uring";
  // io_uring falls back to epoll by itself where the kernel refuses it.
  std::string media_rtp_io = "auto";
  std::int64_t media_realtime_priority = 0;  // SCHED_FIFO priority of the media loops; 0 = normal
  std::int64_t media_batch_window_us = 0;    // interrupt coalescing of busy media loops; 0 = off
  std::string media_kernel_relay;            // interfaces for the BPF kernel relay, comma-separated; "" = off
  // [recording]
  std::string recording_dir = "var/recordings";
  std::string recording_kek;                     // 64 hex chars: key-encryption key for recordings
  std::string recording_kek_id = "k1";           // stored in each recording's header (key rotation)
  std::string recording_cipher = "aes-256-gcm";  // or "sm4"
  // [storage]
  std::string storage_url = "sqlite://var/hotline.db";
  std::int64_t storage_pool_size = 8;
  // [log]
  std::string log_level = "info";   // trace debug info warn error off
  std::string log_format = "text";  // text json
  bool log_access = true;
  // [auth]
  std::int64_t auth_session_ttl_s = 8 * 3600;
  std::int64_t auth_max_failed_logins = 5;
  std::int64_t auth_lockout_s = 15 * 60;
  std::int64_t auth_max_failures_per_source = 30;
  std::int64_t auth_kdf_opslimit = 2;
  std::int64_t auth_kdf_memlimit_kib = 64 * 1024;
  std::int64_t auth_min_password_length = 10;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses `toml_text` (may be empty) then applies `env` overrides.
// Throws ConfigError naming the offending key.
Config load_config(const std::string& toml_text, const std::map<std::string, std::string>& env);

// Reads the file (missing file is an error unless `path` is empty).
Config load_config_file(const std::string& path, const std::map<std::string, std::string>& env);

// The process environment's HOTLINE_* variables.
std::map<std::string, std::string> hotline_environment();

// Every key with its default, as a commented TOML document (`hotline config example`).
std::string example_config();

// Splits "host:port" / "[v6]:port". Throws ConfigError naming `key`.
std::pair<std::string, std::uint16_t> split_host_port(const std::string& value, const std::string& key);

}  // namespace hotline::app
