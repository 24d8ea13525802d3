#include "app/config.h"

#include <toml++/toml.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <variant>

extern char** environ;

namespace hotline::app {
namespace {

using Setter = std::function<void(Config&, const std::string& raw_or_empty, const toml::node* node)>;

struct Key {
  std::string section;
  std::string name;
  std::string doc;
  std::function<std::string(const Config&)> show;  // default value as TOML text
  Setter set;
};

[[noreturn]] void fail(const std::string& key, const std::string& msg) {
  throw ConfigError("config: " + key + ": " + msg);
}

Key int_key(std::string section, std::string name, std::int64_t Config::*field, std::int64_t lo,
            std::int64_t hi, std::string doc) {
  const std::string full = section + "." + name;
  Key k{section, name, std::move(doc), [field](const Config& c) { return std::to_string(c.*field); },
        nullptr};
  k.set = [=](Config& c, const std::string& raw, const toml::node* node) {
    std::int64_t v = 0;
    if (node) {
      auto iv = node->value<std::int64_t>();
      if (!node->is_integer() || !iv) fail(full, "must be an integer");
      v = *iv;
    } else {
      std::size_t used = 0;
      try {
        v = std::stoll(raw, &used);
      } catch (...) {
        used = 0;
      }
      if (raw.empty() || used != raw.size()) fail(full, "must be an integer (got '" + raw + "')");
    }
    if (v < lo || v > hi) {
      fail(full, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " (got " +
                     std::to_string(v) + ")");
    }
    c.*field = v;
  };
  return k;
}

Key string_key(std::string section, std::string name, std::string Config::*field,
               std::function<std::optional<std::string>(const std::string&)> check, std::string doc) {
  const std::string full = section + "." + name;
  Key k{section, name, std::move(doc), [field](const Config& c) { return "\"" + c.*field + "\""; }, nullptr};
  k.set = [=](Config& c, const std::string& raw, const toml::node* node) {
    std::string v = raw;
    if (node) {
      if (!node->is_string()) fail(full, "must be a string");
      v = *node->value<std::string>();
    }
    if (check) {
      if (auto err = check(v)) fail(full, *err);
    }
    c.*field = v;
  };
  return k;
}

Key bool_key(std::string section, std::string name, bool Config::*field, std::string doc) {
  const std::string full = section + "." + name;
  Key k{section, name, std::move(doc),
        [field](const Config& c) { return std::string(c.*field ? "true" : "false"); }, nullptr};
  k.set = [=](Config& c, const std::string& raw, const toml::node* node) {
    if (node) {
      if (!node->is_boolean()) fail(full, "must be true or false");
      c.*field = *node->value<bool>();
    } else if (raw == "true" || raw == "1") {
      c.*field = true;
    } else if (raw == "false" || raw == "0") {
      c.*field = false;
    } else {
      fail(full, "must be true or false (got '" + raw + "')");
    }
  };
  return k;
}

std::function<std::optional<std::string>(const std::string&)> one_of(std::vector<std::string> allowed) {
  return [allowed](const std::string& v) -> std::optional<std::string> {
    for (const auto& a : allowed) {
      if (a == v) return std::nullopt;
    }
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return "must be one of " + list + " (got '" + v + "')";
  };
}

std::optional<std::string> check_listen(const std::string& v) {
  try {
    split_host_port(v, "");
  } catch (const ConfigError& e) {
    return std::string(e.what()).substr(std::string("config: : ").size());
  }
  return std::nullopt;
}

std::optional<std::string> optional_listen(const std::string& v) {
  if (v.empty()) return std::nullopt;
  return check_listen(v);
}

std::optional<std::string> hex_key(const std::string& v) {
  if (v.empty()) return std::nullopt;
  if (v.size() != 64 || v.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return std::string("must be 64 hexadecimal characters (32 bytes)");
  }
  return std::nullopt;
}

// "lo,eth0": interface names as the kernel allows them (1-15 characters, no
// '/', whitespace or ':' ... kept to the safe set), or empty.
std::optional<std::string> interface_list(const std::string& v) {
  std::size_t start = 0;
  while (start <= v.size() && !v.empty()) {
    const std::size_t comma = std::min(v.find(',', start), v.size());
    const std::string name = v.substr(start, comma - start);
    if (name.empty() || name.size() > 15 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@") !=
            std::string::npos)
      return "must be interface names separated by commas, e.g. \"lo,eth0\" (got '" + v + "')";
    start = comma + 1;
  }
  return std::nullopt;
}

std::optional<std::string> non_empty(const std::string& v) {
  if (v.empty()) return std::string("must not be empty");
  return std::nullopt;
}

std::optional<std::string> check_storage_url(const std::string& v) {
  if (v.rfind("sqlite://", 0) == 0 && v.size() > 9) return std::nullopt;
  if (v == "sqlite::memory:") return std::nullopt;
  if (v.rfind("postgresql://", 0) == 0 || v.rfind("postgres://", 0) == 0) return std::nullopt;
  return "must start with sqlite:// or postgresql:// (got '" + v + "')";
}

const std::vector<Key>& keys() {
  static const std::vector<Key> all = {
      string_key("http", "listen", &Config::http_listen, check_listen, "Address and port of the HTTP API"),
      string_key("http", "tls_cert", &Config::http_tls_cert, nullptr,
                 "PEM certificate; HTTPS when set with tls_key"),
      string_key("http", "tls_key", &Config::http_tls_key, nullptr, "PEM private key"),
      int_key("http", "max_body_bytes", &Config::http_max_body_bytes, 1024, 100 << 20,
              "Largest request body"),
      int_key("http", "max_header_bytes", &Config::http_max_header_bytes, 1024, 1 << 20,
              "Largest request head"),
      int_key("http", "max_connections", &Config::http_max_connections, 1, 1'000'000,
              "Open connections at most"),
      int_key("http", "idle_timeout_s", &Config::http_idle_timeout_s, 1, 3600,
              "Close idle keep-alive connections"),
      int_key("http", "request_timeout_s", &Config::http_request_timeout_s, 1, 3600,
              "Time to send one request"),
      int_key("http", "threads", &Config::http_threads, 0, 256, "HTTP worker threads; 0 = one per core"),
      int_key("http", "drain_timeout_s", &Config::http_drain_timeout_s, 0, 3600,
              "On SIGTERM, wait this long for in-flight requests"),
      bool_key("sip", "enabled", &Config::sip_enabled, "Run the SIP stack in `hotline serve`"),
      string_key("sip", "udp", &Config::sip_udp, optional_listen, "SIP over UDP; \"\" disables"),
      string_key("sip", "tcp", &Config::sip_tcp, optional_listen, "SIP over TCP; \"\" disables"),
      string_key("sip", "tls", &Config::sip_tls, optional_listen,
                 "SIP over TLS, e.g. 0.0.0.0:5061; needs tls_cert/tls_key"),
      string_key("sip", "tls_cert", &Config::sip_tls_cert, nullptr, "PEM certificate for SIP over TLS"),
      string_key("sip", "tls_key", &Config::sip_tls_key, nullptr, "PEM private key for SIP over TLS"),
      string_key("sip", "realm", &Config::sip_realm, non_empty,
                 "Digest realm; changing it needs new extension passwords"),
      string_key(
          "sip", "default_tenant", &Config::sip_default_tenant, nullptr,
          "Tenant slug for REGISTERs to a domain no tenant owns (single-tenant installs, IP addresses)"),
      string_key("sip", "advertised_address", &Config::sip_advertised_address, nullptr,
                 "Address put in Via/Contact when behind NAT; empty = bound address"),
      int_key("sip", "min_expires_s", &Config::sip_min_expires_s, 1, 86400,
              "Shortest registration (423 below)"),
      int_key("sip", "max_expires_s", &Config::sip_max_expires_s, 60, 7 * 86400, "Longest registration"),
      int_key("sip", "qualify_interval_s", &Config::sip_qualify_interval_s, 0, 3600,
              "OPTIONS ping to registered devices; 0 = off"),
      int_key("sip", "t1_ms", &Config::sip_t1_ms, 50, 10000, "RFC 3261 T1 (round-trip estimate)"),
      int_key("sip", "max_message_bytes", &Config::sip_max_message_bytes, 1024, 1 << 20,
              "Largest SIP message"),
      int_key("sip", "rate_limit", &Config::sip_rate_limit, 1, 1'000'000,
              "SIP requests per second per source address (excess dropped); trunks are exempt"),
      int_key("sip", "rate_burst", &Config::sip_rate_burst, 1, 10'000'000,
              "Burst allowed above sip.rate_limit"),
      string_key(
          "sip", "trusted_sources", &Config::sip_trusted_sources, nullptr,
          "Address prefixes exempt from rate limits and bans, comma-separated (e.g. \"10.1.,192.0.2.7\")"),
      int_key("media", "rtp_port_min", &Config::media_rtp_port_min, 1024, 65534, "Lowest RTP port"),
      int_key("media", "rtp_port_max", &Config::media_rtp_port_max, 1025, 65535, "Highest RTP port"),
      int_key("media", "loops", &Config::media_loops, 0, 64, "Media event loops; 0 = one per core"),
      string_key("media", "address", &Config::media_address, nullptr,
                 "Our RTP address in SDP; empty = the address the caller or phone used to reach us"),
      int_key("media", "timeout_s", &Config::media_timeout_s, 0, 3600,
              "Hang up a call after this long without RTP; 0 = never"),
      string_key("media", "prompts_dir", &Config::media_prompts_dir, nullptr,
                 "Shipped voice prompts (<dir>/<lang>/<name>.wav); empty = the build's prompts"),
      string_key("media", "custom_prompts_dir", &Config::media_custom_prompts_dir, non_empty,
                 "Where uploaded prompts are stored"),
      string_key("media", "rtp_io", &Config::media_rtp_io, one_of({"auto", "epoll", "io_uring"}),
                 "RTP socket I/O: io_uring (falls back to epoll where the kernel refuses it), epoll, or "
                 "auto (the built-in default: io_uring)"),
      int_key("media", "realtime_priority", &Config::media_realtime_priority, 0, 99,
              "SCHED_FIFO priority (1-99) of the media loops, for steady prompt and music pacing on a "
              "busy host; needs CAP_SYS_NICE (the log says when it is refused); 0 = normal scheduling"),
      int_key("media", "batch_window_us", &Config::media_batch_window_us, 0, 5000,
              "Busy media loops sleep this long after a round so packets arriving meanwhile share one "
              "wake-up (less CPU at high packet rates, up to this much added latency); 0 = off"),
      string_key("media", "kernel_relay", &Config::media_kernel_relay, interface_list,
                 "Relay same-law bridges in the kernel (a tc BPF program) on these interfaces, "
                 "comma-separated, e.g. \"lo,eth0\" (the loopback for peers on this host); needs root; "
                 "the log says when it cannot load and the bridges stay in userspace; empty = off"),
      string_key("recording", "dir", &Config::recording_dir, non_empty,
                 "Where encrypted recordings are written"),
      string_key("recording", "kek", &Config::recording_kek, hex_key,
                 "Key-encryption key for recordings: 64 hex characters (openssl rand -hex 32)"),
      string_key("recording", "kek_id", &Config::recording_kek_id, non_empty,
                 "Name of that key, stored in each recording (rotate by adding a new id)"),
      string_key("recording", "cipher", &Config::recording_cipher, one_of({"aes-256-gcm", "sm4"}),
                 "Cipher for recordings at rest"),
      string_key("storage", "url", &Config::storage_url, check_storage_url,
                 "sqlite://path or postgresql://user:pass@host:port/db"),
      int_key("storage", "pool_size", &Config::storage_pool_size, 1, 256, "Database connections"),
      string_key("log", "level", &Config::log_level,
                 one_of({"trace", "debug", "info", "warn", "error", "off"}), "Log level"),
      string_key("log", "format", &Config::log_format, one_of({"text", "json"}), "Log line format"),
      bool_key("log", "access", &Config::log_access, "One log line per HTTP request"),
      int_key("auth", "session_ttl_s", &Config::auth_session_ttl_s, 60, 30 * 86400, "Session lifetime"),
      int_key("auth", "max_failed_logins", &Config::auth_max_failed_logins, 1, 1000,
              "Failed logins before an account is locked"),
      int_key("auth", "lockout_s", &Config::auth_lockout_s, 1, 86400,
              "How long a locked account stays locked"),
      int_key("auth", "max_failures_per_source", &Config::auth_max_failures_per_source, 1, 100000,
              "Failed logins per client address per 5 minutes"),
      int_key("auth", "kdf_opslimit", &Config::auth_kdf_opslimit, 1, 10, "argon2id passes"),
      int_key("auth", "kdf_memlimit_kib", &Config::auth_kdf_memlimit_kib, 8 * 1024, 4 * 1024 * 1024,
              "argon2id memory in KiB"),
      int_key("auth", "min_password_length", &Config::auth_min_password_length, 8, 128, "Shortest password"),
  };
  return all;
}

const Key* find_key(const std::string& section, const std::string& name) {
  for (const auto& k : keys()) {
    if (k.section == section && k.name == name) return &k;
  }
  return nullptr;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::pair<std::string, std::uint16_t> split_host_port(const std::string& v, const std::string& key) {
  std::string host, port;
  if (!v.empty() && v[0] == '[') {
    auto close = v.find(']');
    if (close == std::string::npos || close + 1 >= v.size() || v[close + 1] != ':') {
      fail(key, "must be [ipv6]:port (got '" + v + "')");
    }
    host = v.substr(1, close - 1);
    port = v.substr(close + 2);
  } else {
    auto colon = v.rfind(':');
    if (colon == std::string::npos) fail(key, "must be host:port (got '" + v + "')");
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
  }
  if (host.empty()) fail(key, "host is empty (got '" + v + "')");
  int p = -1;
  try {
    std::size_t used = 0;
    p = std::stoi(port, &used);
    if (used != port.size()) p = -1;
  } catch (...) {
    p = -1;
  }
  if (p < 0 || p > 65535) fail(key, "port must be 0-65535 (got '" + port + "')");
  return {host, static_cast<std::uint16_t>(p)};
}

Config load_config(const std::string& toml_text, const std::map<std::string, std::string>& env) {
  Config c;
  toml::table doc;
  try {
    doc = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << "config: TOML syntax error at line " << e.source().begin.line << ": " << e.description();
    throw ConfigError(os.str());
  }
  for (auto& [section, node] : doc) {
    const std::string sec(section.str());
    auto* table = node.as_table();
    if (!table) fail(sec, "must be a [section] table");
    for (auto& [name, value] : *table) {
      const std::string n(name.str());
      const Key* k = find_key(sec, n);
      if (!k) fail(sec + "." + n, "unknown key");
      k->set(c, "", &value);
    }
  }
  for (const auto& [var, value] : env) {
    if (var == "HOTLINE_CONFIG") continue;
    const Key* match = nullptr;
    for (const auto& k : keys()) {
      if (var == "HOTLINE_" + upper(k.section) + "_" + upper(k.name)) match = &k;
    }
    if (!match) fail(var, "unknown environment variable");
    match->set(c, value, nullptr);
  }
  if (!c.sip_tls.empty() && (c.sip_tls_cert.empty() || c.sip_tls_key.empty())) {
    fail("sip.tls", "SIP over TLS needs sip.tls_cert and sip.tls_key");
  }
  if (c.sip_min_expires_s > c.sip_max_expires_s)
    fail("sip.min_expires_s", "must not exceed sip.max_expires_s");
  if (c.http_tls_cert.empty() != c.http_tls_key.empty()) {
    fail("http.tls_cert", "tls_cert and tls_key must be set together");
  }
  return c;
}

Config load_config_file(const std::string& path, const std::map<std::string, std::string>& env) {
  if (path.empty()) return load_config("", env);
  std::ifstream in(path);
  if (!in) throw ConfigError("config: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return load_config(ss.str(), env);
}

std::map<std::string, std::string> hotline_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    if (kv.rfind("HOTLINE_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

std::string example_config() {
  Config defaults;
  std::ostringstream out;
  std::string section;
  for (const auto& k : keys()) {
    if (k.section != section) {
      out << (section.empty() ? "" : "\n") << "[" << k.section << "]\n";
      section = k.section;
    }
    out << "# " << k.doc << "\n" << k.name << " = " << k.show(defaults) << "\n";
  }
  return out.str();
}

}  // namespace hotline::app
