// records/records.h — call detail records, recordings and the routing
// engine's event log, committed durably and queryable.
//
// Writes from the call layer are queued and committed by one writer thread
// in batches (group commit: one transaction per batch, not one fsync per
// record). flush() returns once everything queued before it is durable; a
// killed process loses at most what was queued but not yet committed, never
// a committed record. Reads go straight to the database.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "iam/iam.h"
#include "media/recording.h"
#include "store/database.h"

namespace hotline::records {

// Millisecond timestamps since the Unix epoch; 0 = did not happen.
struct CallRecord {
  std::string id;  // call id (16 hex digits), unique
  std::int64_t tenant_id = 0;
  std::string direction = "inbound";  // inbound | outbound | internal | callback
  std::string caller;                 // caller's number (as received)
  std::string caller_name;
  std::string dialled;  // the number dialled (DID / user part)
  std::int64_t customer_id = 0;
  std::string flow;      // IVR flow name
  std::string ivr_path;  // visited nodes, comma-separated
  std::string queue;     // last queue
  std::int64_t agent_id = 0;
  std::string agent_extension;
  std::int64_t arrived_ms = 0;
  std::int64_t ivr_left_ms = 0;
  std::int64_t queued_ms = 0;
  std::int64_t offered_ms = 0;  // first offer
  std::int64_t answered_ms = 0;
  std::int64_t ended_ms = 0;
  std::int64_t wrapup_ended_ms = 0;
  int offers = 0;  // how many agents were rung
  int priority = 0;
  // answered | abandoned | voicemail | callback | transferred | closed |
  // blocked | rejected | failed | no_agents | queue_full | max_wait | transfer_failed
  std::string disposition;
  std::string end_reason;  // "caller hangup", "agent hangup", …
  std::string wrapup_code;
  std::string notes;
  std::string recording_id;
  // Time the bridged call spent on hold (either party), and how often it was
  // put on hold; a hold still open when the call ends counts up to the end.
  std::int64_t hold_ms = 0;
  int holds = 0;

  bool operator==(const CallRecord&) const = default;
};

struct CallLeg {
  std::string call_id;
  std::int64_t tenant_id = 0;
  int leg_no = 0;    // 0 = caller; 1.. in creation order
  std::string role;  // caller | agent | transfer | callback | supervisor
  std::string peer;  // SIP URI or number
  std::int64_t agent_id = 0;
  std::int64_t started_ms = 0;
  std::int64_t answered_ms = 0;
  std::int64_t ended_ms = 0;
  int sip_status = 0;  // final SIP status of the leg (200, 486, 487, 408, …)
  std::string end_reason;

  bool operator==(const CallLeg&) const = default;
};

struct RecordingInfo {
  std::string id;
  std::int64_t tenant_id = 0;
  std::string call_id;
  std::string kind = "call";  // call | voicemail
  std::string path;           // encrypted file (media/recording.h format)
  std::string cipher;
  std::int64_t started_ms = 0;
  std::int64_t ended_ms = 0;
  std::int64_t bytes = 0;
  std::string queue;  // voicemail: the queue / mailbox it belongs to
  std::int64_t customer_id = 0;

  bool operator==(const RecordingInfo&) const = default;
};

// One routing-engine event (routing::Event flattened with names).
struct EventRecord {
  std::int64_t tenant_id = 0;
  std::int64_t seq = 0;  // engine sequence (unique per tenant and process run)
  std::int64_t time_ms = 0;
  std::string type;  // routing::to_string(EventType)
  std::int64_t agent_id = 0;
  std::string call_id;
  std::string queue;
  int value = 0;
  std::string disposition;
  int reason = 0;

  bool operator==(const EventRecord&) const = default;
};

struct StoreOptions {
  std::size_t max_batch = 1000;
  // How long a record may wait for company (real steady time: it bounds the
  // writer's condition-variable wait, so it does not follow a FakeClock).
  std::chrono::milliseconds max_delay{5};
  std::vector<media::Kek> keks;  // to decrypt recordings for listening
};

// Syntax of call and recording ids: 1-32 of [0-9a-zA-Z_-]. put_* drop (and
// count as failed) records whose ids do not match; the API answers 400.
bool valid_id(std::string_view id);

struct CsvOptions {
  bool mask_phone_numbers = false;  // caller through security::mask_phone (no customers.pii.read)
  std::size_t max_rows = 100'000;   // more matching calls: invalid_argument "to" (narrow the range)
};

template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next_cursor;
};

struct CallFilter {
  std::int64_t from_ms = 0;  // arrived_ms >= from
  std::int64_t to_ms = 0;    // arrived_ms < to (0 = open)
  std::string queue;
  std::int64_t agent_id = 0;
  std::string disposition;
  std::string caller;
  std::string cursor;  // from Page::next_cursor
  int limit = 50;      // 1..1000
};

struct EventFilter {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::int64_t agent_id = 0;
  std::string call_id;
  std::string type;
  std::string cursor;
  int limit = 100;
};

class Store {
 public:
  Store(store::Database& db, common::Clock& clock, StoreOptions options = {});
  ~Store();  // flushes and stops the writer

  // --- writes (queued, group-committed) ---
  // The queue is unbounded: a stalled database grows memory, never blocks the caller.
  void put_call(CallRecord call);  // insert or replace by id
  void put_leg(CallLeg leg);       // insert or replace by (call_id, leg_no)
  void put_recording(RecordingInfo rec);
  void put_event(EventRecord ev);
  // Blocks until every write queued before the call is committed.
  void flush();

  // --- writes from the API (synchronous, audited) ---
  // Sets the wrap-up code (<= 64 bytes, no control characters) and notes
  // (<= 4000 characters; newlines and tabs allowed) after flushing the queue,
  // with a "call.wrapup" audit entry in the same transaction. A later put_call
  // with an empty code or notes keeps the stored ones.
  common::Status set_wrapup(std::int64_t tenant, const std::string& call_id, const std::string& code,
                            const std::string& notes, const iam::Actor& actor);

  // --- reads ---
  common::Result<Page<CallRecord>> calls(std::int64_t tenant, const CallFilter& f);
  common::Result<CallRecord> call(std::int64_t tenant, const std::string& id);
  std::vector<CallLeg> legs(std::int64_t tenant, const std::string& call_id);
  std::vector<RecordingInfo> recordings_for(std::int64_t tenant, const std::string& call_id);
  common::Result<Page<RecordingInfo>> voicemails(std::int64_t tenant, const std::string& queue,
                                                 const std::string& cursor, int limit);
  common::Result<RecordingInfo> recording(std::int64_t tenant, const std::string& id);
  common::Result<Page<EventRecord>> events(std::int64_t tenant, const EventFilter& f);
  // CSV (RFC 4180, header row) of the calls matching `f` (all pages from
  // f.cursor on; f.limit is ignored). Columns: docs/records.md.
  common::Result<std::string> calls_csv(std::int64_t tenant, CallFilter f);
  common::Result<std::string> calls_csv(std::int64_t tenant, CallFilter f, const CsvOptions& options);
  // Decrypts a recording to WAV bytes and writes the access to the audit
  // log ("recording.listen"); not_found for another tenant's recording.
  // Only a successful access is audited, and the bytes are returned only
  // once the audit entry is committed. Errors: "unavailable" (file missing,
  // no KEK for it, I/O), "integrity" (tampered or not a recording).
  common::Result<std::string> listen(std::int64_t tenant, const std::string& recording_id,
                                     const iam::Actor& actor);

  struct Stats {
    std::uint64_t committed = 0;  // records
    std::uint64_t batches = 0;
    // Records not committed: rejected by put_* (bad id or tenant) or still
    // failing when retried one by one after their batch failed (logged).
    std::uint64_t failed = 0;
  };
  Stats stats() const;

 private:
  // (implementation-defined)
  struct Writer;
  std::unique_ptr<Writer> writer_;
  store::Database& db_;
  common::Clock& clock_;
  StoreOptions options_;
};

}  // namespace hotline::records
