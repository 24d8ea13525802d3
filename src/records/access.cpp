// The audited operations (wrap-up, listening) and the CSV export.
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "iam/validate.h"
#include "records/records.h"
#include "records/rows.h"
#include "security/mask.h"

namespace hotline::records {

using common::Error;
using nlohmann::json;

namespace {

// UTF-8 code points, or nullopt for malformed UTF-8 or a control character
// other than tab, CR and LF (notes are free text over several lines).
std::optional<std::size_t> note_chars(std::string_view s) {
  std::size_t chars = 0;
  std::string line;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars;
    line += (c == '\n' || c == '\r') ? ' ' : c;
  }
  if (!iam::is_clean_utf8(line)) return std::nullopt;
  return chars;
}

json wrapup_json(const std::string& code, std::size_t notes_chars) {
  return json{{"code", code}, {"notes_chars", notes_chars}};
}

// A private (0600) file for the plaintext WAV, removed whatever happens.
class TempWav {
 public:
  TempWav() {
    auto tmpl = (std::filesystem::temp_directory_path() / "hotline-listen-XXXXXX.wav").string();
    int fd = ::mkstemps(tmpl.data(), 4);
    if (fd >= 0) {
      ::close(fd);
      path_ = tmpl;
    }
  }
  ~TempWav() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempWav(const TempWav&) = delete;
  TempWav& operator=(const TempWav&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::optional<std::string> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(ss).str();
}

}  // namespace

common::Status Store::set_wrapup(std::int64_t tenant, const std::string& call_id, const std::string& code,
                                 const std::string& notes, const iam::Actor& actor) {
  if (!valid_id(call_id)) return Error::invalid("id", "call id must be 1-32 of [0-9a-zA-Z_-]");
  if (auto e = iam::check_text(code, 64, "code")) return *e;
  const auto chars = note_chars(notes);
  if (!chars)
    return Error::invalid("notes", "must be valid UTF-8 without control characters other than newlines");
  if (*chars > 4000) return Error::invalid("notes", "must be at most 4000 characters");
  flush();  // the call layer's record of this call may still be queued
  return db_.transaction([&](store::Tx& tx) -> common::Status {
    auto rows =
        tx.exec("SELECT wrapup_code, notes FROM calls WHERE tenant_id = $1 AND id = $2", {tenant, call_id})
            .rows;
    if (rows.empty()) return Error::not_found("no call with id '" + call_id + "'");
    tx.exec("UPDATE calls SET wrapup_code = $1, notes = $2 WHERE tenant_id = $3 AND id = $4",
            {code, notes, tenant, call_id});
    // Notes are free text that may hold personal data; the append-only audit
    // chain keeps their length, not their content, so they stay erasable.
    const auto before = wrapup_json(rows[0].text(0), note_chars(rows[0].text(1)).value_or(0));
    iam::append_audit(tx, clock_.wall_ms(), actor, tenant, "call.wrapup", "call:" + call_id,
                      json{{"before", before}, {"after", wrapup_json(code, *chars)}}.dump());
    return common::ok_status();
  });
}

common::Result<std::string> Store::listen(std::int64_t tenant, const std::string& recording_id,
                                          const iam::Actor& actor) {
  auto rec = recording(tenant, recording_id);
  if (!rec) return rec.error();
  TempWav wav;
  if (wav.path().empty()) return Error{"unavailable", "cannot create a temporary file", ""};
  auto info = media::decrypt_recording(rec->path, wav.path(), options_.keks);
  if (!info) {
    spdlog::warn("records: recording {} (tenant {}) does not decrypt: {} {}", recording_id, tenant,
                 info.error().code, info.error().message);
    const bool tampered = info.error().code == "integrity" || info.error().code == "invalid_format";
    return Error{
        tampered ? "integrity" : "unavailable",
        tampered ? "the recording file fails its integrity check" : "the recording cannot be read now", ""};
  }
  auto bytes = read_all(wav.path());
  if (!bytes) return Error{"unavailable", "cannot read the decrypted recording", ""};
  // Audited before anything is handed out: no audit entry, no audio.
  db_.transaction([&](store::Tx& tx) {
    iam::append_audit(tx, clock_.wall_ms(), actor, tenant, "recording.listen", "recording:" + recording_id,
                      json{{"call_id", rec->call_id},
                           {"kind", rec->kind},
                           {"complete", info->complete},
                           {"frames", info->frames}}
                          .dump());
  });
  return std::move(*bytes);
}

// ---- CSV ----

namespace {

const char* const kCsvHeader =
    "id,direction,caller,caller_name,dialled,customer_id,flow,ivr_path,queue,agent_id,agent_extension,"
    "arrived,ivr_left,queued,offered,answered,ended,wrapup_ended,offers,priority,disposition,end_reason,"
    "wrapup_code,notes,recording_id,hold_ms,holds\r\n";

void csv_row(std::string& out, const CallRecord& c, bool mask) {
  auto text = [&](const std::string& v) {
    out += detail::csv_field(v, true);
    out += ',';
  };
  auto num = [&](std::int64_t v) { out += std::to_string(v) + ','; };
  auto time = [&](std::int64_t v) { out += detail::iso_ms(v) + ','; };
  text(c.id);
  text(c.direction);
  text(mask ? security::mask_phone(c.caller) : c.caller);
  text(c.caller_name);
  text(c.dialled);
  num(c.customer_id);
  text(c.flow);
  text(c.ivr_path);
  text(c.queue);
  num(c.agent_id);
  text(c.agent_extension);
  for (auto t : {c.arrived_ms, c.ivr_left_ms, c.queued_ms, c.offered_ms, c.answered_ms, c.ended_ms,
                 c.wrapup_ended_ms}) {
    time(t);
  }
  num(c.offers);
  num(c.priority);
  text(c.disposition);
  text(c.end_reason);
  text(c.wrapup_code);
  text(c.notes);
  text(c.recording_id);
  num(c.hold_ms);
  out += std::to_string(c.holds);
  out += "\r\n";
}

}  // namespace

common::Result<std::string> Store::calls_csv(std::int64_t tenant, CallFilter f) {
  return calls_csv(tenant, std::move(f), CsvOptions{});
}

common::Result<std::string> Store::calls_csv(std::int64_t tenant, CallFilter f, const CsvOptions& options) {
  f.limit = 1000;
  std::string out = kCsvHeader;
  std::size_t rows = 0;
  for (;;) {
    auto page = calls(tenant, f);
    if (!page) return page.error();
    rows += page->items.size();
    if (rows > options.max_rows) {
      return Error::invalid("to", "more than " + std::to_string(options.max_rows) +
                                      " calls match; export a shorter time range");
    }
    for (const auto& c : page->items) csv_row(out, c, options.mask_phone_numbers);
    if (!page->next_cursor) return out;
    f.cursor = *page->next_cursor;
  }
}

}  // namespace hotline::records
