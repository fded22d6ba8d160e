// Store: Orion's system of record — the desired state the API writes (streams, models,
// pipelines), the actual state engines write (stream and pipeline status, engine heartbeats),
// and events (detections bound to the frame identity). The API and the engines share nothing
// else (DESIGN.md "Control plane and data"): control state passes between them only through here.
//
// Two implementations behind this one interface, chosen by URL:
//   sqlite://PATH            embedded default: WAL, busy timeout, foreign keys on
//   postgresql://...         several engines and API processes on one database (libpqxx)
// Numbered migrations (store/migrations.cc, one list for both engines) are applied by open(),
// inside a transaction, and recorded in schema_migrations(version, name, applied_at); opening a
// database newer than this build is an error. SQL lives only in src/store/ (docs/design/store.md).
//
// Versions: every desired-state record has `version` (1 at create, +1 at every update). An
// update or delete with an expected version other than the stored one fails with
// "store.version_conflict" and changes nothing (the API answers 409). desired_revision() grows
// at every desired-state change, in the same transaction as the change, so a reconciler can poll
// one number; PostgreSQL also NOTIFYs channel "orion_desired" (payload: the new revision) at
// commit, and wait_desired_revision() waits on it.
//
// References: a pipeline names an existing stream and model (foreign keys); deleting a stream or
// model that a pipeline names fails with store.in_use. Names never change (update_* finds the
// record by name). Stream and pipeline status rows belong to their stream / pipeline: writing
// one for a name not in the desired state is store.missing_reference, and deleting the stream or
// pipeline deletes its status. Events are history: they keep their stream and pipeline names
// after those are deleted, until retention removes them.
//
// Errors (codes): "store.bad_url", "store.open", "store.migration", "store.not_found",
// "store.exists" (duplicate name), "store.stale_epoch" (a status row or event written under a
// lease epoch that is not the stream's current one: refused by the database itself),
// "store.version_conflict", "store.in_use" (a stream or model
// a pipeline still references), "store.missing_reference" (a pipeline naming a stream or model
// that does not exist), "store.invalid" (a value the store cannot hold: an empty name, text that
// is not UTF-8 or has a NUL, a count above 2^63-1, a number that is not finite, motion_gate_json
// that is not JSON, a query limit outside 1..1000, a negative retention), "store.io" (the database
// failed; message has its text), "store.unavailable" (the database cannot be reached: the
// connection was lost and opening it again failed, or the next attempt is not due yet — see
// below; the caller may try again later). Every message names the resource and the field.
//
// Thread-safety: every method is thread-safe (each Store has one connection, guarded by a mutex;
// open several Stores for parallel work). Each call is one transaction: it either happened or
// not. A PostgreSQL connection that was lost is opened again by the next call (a call that was
// not committed yet is retried once on the new connection; one lost during its COMMIT is not
// retried, as it may have been committed, and its message says so). While the server stays
// away, reconnect attempts are spaced by a capped backoff (100 ms doubling to 2 s, reset by
// the first success): a call between two attempts fails at once with store.unavailable and
// never waits (docs/design/db_resilience.md). Several processes may share one
// database (SQLite: WAL and a 5 s busy timeout; PostgreSQL: row locks), and versions make their
// concurrent updates safe.
//
// Times set by the store (updated_at, started_at, heartbeat_at) come from the writing process's
// wall clock, as ISO 8601 UTC with milliseconds ("2026-12-01T20:13:09.123Z").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace orion::store {

// ---- desired state (written by the API and the YAML import) ---------------------------------

struct StreamRecord {
  std::string name;
  std::string url;  // as given, credentials included (the API redacts them on the way out)
  bool enabled = true;
  bool loop = false;
  bool tls_verify = true;
  int64_t stall_timeout_ms = 0;  // 0: the engine's default
  int64_t version = 0;
  std::string updated_at;  // ISO 8601 UTC, set by the store

  friend bool operator==(const StreamRecord&, const StreamRecord&) = default;
};

struct ModelRecord {
  std::string name;
  std::string kind;  // yolov8 | yolox | hog | fake
  std::string path;
  int input_width = 0, input_height = 0;  // 0: the model's own
  std::vector<std::string> class_names;   // empty: the model's / COCO
  int threads = 0;                        // inference threads; 0: the backend's default
  // Where inference runs, canonical text of core/device.h: "cpu" or "cuda:N" (the store refuses
  // anything else; which kind takes which device is the API's check, ADR 0092).
  std::string device = "cpu";
  int64_t version = 0;
  std::string updated_at;

  friend bool operator==(const ModelRecord&, const ModelRecord&) = default;
};

// Which detections of a pipeline become events (rows), so the database never takes every box of
// every frame: classes (empty = all), a minimum score, and at most one event per class per
// min_interval_ms.
struct EventPolicy {
  bool enabled = true;
  std::vector<std::string> classes;
  double min_score = 0.5;
  int64_t min_interval_ms = 1000;

  friend bool operator==(const EventPolicy&, const EventPolicy&) = default;
};

struct PipelineRecord {
  std::string name;
  std::string stream;               // references StreamRecord::name
  std::string model;                // references ModelRecord::name
  std::string sla = "best_effort";  // critical | best_effort
  double min_score = 0.25;
  double iou = 0.45;
  std::vector<std::string> classes;  // detector class filter, empty = all
  bool enabled = true;
  std::string motion_gate_json;             // "" = off; else the motion_gate object as JSON text
  std::vector<std::string> worker_command;  // empty = the engine's default worker
  EventPolicy events;
  int64_t version = 0;
  std::string updated_at;

  friend bool operator==(const PipelineRecord&, const PipelineRecord&) = default;
};

// ---- actual state (written by engines) ------------------------------------------------------

struct EngineRecord {
  std::string id;                        // unique per engine process (e.g. host:pid:start)
  std::string media_url;                 // http://host:port of its media endpoint (snapshots)
  std::string rtsp_url;                  // rtsp://host:port, the base of its outputs
  int max_streams = 0;                   // 0: no limit declared
  std::string state = "running";         // running | draining (handing its streams over)
  std::string started_at, heartbeat_at;  // set by the store

  friend bool operator==(const EngineRecord&, const EngineRecord&) = default;
};

struct StreamStatusRecord {
  std::string stream;
  std::string engine_id;
  std::string state;  // media::StreamState as text: connecting, live, retrying, stalled, failed
  std::string last_error;
  double fps_in = 0, fps_out = 0;
  uint64_t frames_in = 0, frames_out = 0, reconnects = 0;
  std::string output_url;
  // Per-frame latency by hop, JSON text: {"output_latency": {"count", "p50_s", "p99_s",
  // "max_s"}, ...} (engine/latency_book.h); "{}" when none.
  std::string latency = "{}";
  int64_t epoch = 0;  // the lease epoch it is written under (0: the stream was never leased)
  std::string updated_at;

  friend bool operator==(const StreamStatusRecord&, const StreamStatusRecord&) = default;
};

struct PipelineStatusRecord {
  std::string pipeline;
  std::string engine_id;
  std::string state;  // engine::PipelineState as text
  std::string last_error;
  int pid = 0;
  uint64_t restarts = 0;
  std::map<std::string, uint64_t> restart_reasons;
  std::map<std::string, uint64_t> violations;
  uint64_t offered = 0, taken = 0, dropped = 0, results = 0;
  double last_result_age_s = -1;  // -1: no result yet
  std::string latency = "{}";     // per-result latency by hop, JSON text (as StreamStatusRecord)
  int64_t epoch = 0;              // the lease epoch of its stream it is written under
  std::string updated_at;

  friend bool operator==(const PipelineStatusRecord&, const PipelineStatusRecord&) = default;
};

// ---- leases (docs/design/scale_out.md) -----------------------------------------------------
//
// A stream belongs to at most one engine: its row in stream_leases names the owner ('' =
// nobody), a fencing epoch that grows at every claim, and an expiry in the DATABASE's clock.
// Every status row and event an engine writes carries the epoch of its stream's lease; the
// database refuses (store.stale_epoch) a row for a leased stream unless it carries the current
// epoch of a live lease (status rows: and the owner's engine id). Streams never leased take
// epoch-0 rows as before (one process, hand-written test rows).

struct LeaseRecord {
  std::string stream;
  std::string engine_id;      // "" = released / never claimed
  int64_t epoch = 0;          // 0: never claimed
  int64_t expires_in_ms = 0;  // relative to the database's clock when read; <= 0: expired

  friend bool operator==(const LeaseRecord&, const LeaseRecord&) = default;
};

// An engine as placement sees it, in the database's clock.
struct EngineLoad {
  std::string id;
  int max_streams = 0;  // 0: no limit
  std::string state;    // running | draining
  int held = 0;         // live leases it holds
  bool live = false;    // its heartbeat lease (engines.lease_until_ms) has not expired
};

// What a lease round's planner sees, inside the round's transaction.
struct LeaseView {
  int64_t server_up_ms = 0;             // how long the database server has run (SQLite: large)
  std::vector<EngineLoad> engines;      // every engine row, ordered by id
  std::vector<LeaseRecord> leases;      // every stream's lease (one per stream), ordered by stream
  std::vector<LeaseRecord> claimable;   // locked for this round (FOR UPDATE SKIP LOCKED): free,
                                        // expired (see expired_claims_allowed) or already ours
  bool expired_claims_allowed = false;  // server_up_ms >= the lease: see ADR 0050
};

struct LeaseRound {
  EngineRecord engine;                     // heartbeat, in the same transaction
  Duration lease = Duration::seconds(10);  // length of every lease renewed or claimed
  std::map<std::string, int64_t> renew;    // stream → epoch this engine runs under
  std::map<std::string, int64_t> release;  // stream → epoch; already stopped by this engine
  // Which of view.claimable to claim (empty function: none). Runs inside the transaction.
  std::function<std::vector<std::string>(const LeaseView&)> plan;
};

struct LeaseRoundResult {
  std::map<std::string, int64_t> held;  // renewed + claimed: stream → epoch
  std::vector<std::string> lost;        // in `renew` but no longer this engine's
  LeaseView view;                       // as the planner saw it (before the claims)
};

// ---- events ---------------------------------------------------------------------------------

// One detection that passed its pipeline's EventPolicy, bound to the frame it was found on.
struct EventRecord {
  int64_t id = 0;  // set by the store; increasing, the cursor of query_events
  std::string stream, pipeline;
  uint64_t sequence = 0;
  int64_t pts_ns = 0;
  int64_t capture_ns = 0;    // CLOCK_MONOTONIC of the engine that captured it
  int64_t wall_time_ms = 0;  // Unix time (ms) when the engine saw the result
  int class_id = -1;
  std::string class_name;
  double score = 0;
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int64_t epoch = 0;  // the lease epoch of its stream it was produced under

  friend bool operator==(const EventRecord&, const EventRecord&) = default;
};

// Events come back oldest first (increasing id); the next page starts after the last id seen.
struct EventQuery {
  std::string stream, pipeline;  // "" = any
  int64_t since_ms = 0;          // wall_time_ms >= since_ms
  int64_t after_id = 0;          // cursor: id > after_id
  int limit = 100;               // 1..1000; outside it: store.invalid (never clamped)
};

// 0 turns a limit off; negative values are store.invalid.
struct Retention {
  int64_t max_age_ms = 7LL * 24 * 3600 * 1000;  // delete events with wall_time_ms < now - this
  int64_t max_rows = 1'000'000;                 // then keep only the newest this many (by id)
};

class Store {
 public:
  // Opens (creating when absent) and migrates. Errors: store.bad_url, store.open, store.migration.
  static Result<std::unique_ptr<Store>> open(const std::string& url);
  virtual ~Store() = default;

  virtual std::string url_redacted() const = 0;  // for logs: no password

  // Desired state. create_* set version 1; update_* need the current version.
  virtual Result<std::vector<StreamRecord>> list_streams() = 0;
  virtual Result<StreamRecord> get_stream(const std::string& name) = 0;
  virtual Result<StreamRecord> create_stream(const StreamRecord& r) = 0;
  virtual Result<StreamRecord> update_stream(const StreamRecord& r, int64_t expected_version) = 0;
  virtual Status delete_stream(const std::string& name,
                               std::optional<int64_t> expected_version) = 0;

  virtual Result<std::vector<ModelRecord>> list_models() = 0;
  virtual Result<ModelRecord> get_model(const std::string& name) = 0;
  virtual Result<ModelRecord> create_model(const ModelRecord& r) = 0;
  virtual Result<ModelRecord> update_model(const ModelRecord& r, int64_t expected_version) = 0;
  virtual Status delete_model(const std::string& name, std::optional<int64_t> expected_version) = 0;

  virtual Result<std::vector<PipelineRecord>> list_pipelines() = 0;
  virtual Result<PipelineRecord> get_pipeline(const std::string& name) = 0;
  virtual Result<PipelineRecord> create_pipeline(const PipelineRecord& r) = 0;
  virtual Result<PipelineRecord> update_pipeline(const PipelineRecord& r,
                                                 int64_t expected_version) = 0;
  virtual Status delete_pipeline(const std::string& name,
                                 std::optional<int64_t> expected_version) = 0;

  // Grows at every desired-state change (create, update, delete of any resource). Lists are
  // ordered by name.
  virtual Result<int64_t> desired_revision() = 0;
  // Returns the revision as soon as it differs from `known` (at once if it already does), or
  // `known` unchanged when `limit` passed first. PostgreSQL: woken by NOTIFY orion_desired on a
  // connection of its own (from any process); SQLite: woken at once by changes through this
  // Store, and by polling every 100 ms for changes by other processes. Meant for one reconciler
  // thread; a second concurrent waiter on the same Store falls back to polling.
  virtual Result<int64_t> wait_desired_revision(int64_t known, Duration limit) = 0;

  // Actual state. Puts replace the whole row (insert or update) and stamp its time.
  // heartbeat_engine keeps started_at from the first heartbeat of that id.
  virtual Status heartbeat_engine(const EngineRecord& e) = 0;
  virtual Result<std::vector<EngineRecord>> list_engines() = 0;
  virtual Status put_stream_status(const StreamStatusRecord& s) = 0;
  virtual Result<std::vector<StreamStatusRecord>> list_stream_status() = 0;
  virtual Status put_pipeline_status(const PipelineStatusRecord& s) = 0;
  virtual Result<std::vector<PipelineStatusRecord>> list_pipeline_status() = 0;

  // Events: one transaction per batch (all or none); returns the ids given, in batch order.
  virtual Result<std::vector<int64_t>> insert_events(const std::vector<EventRecord>& batch) = 0;
  virtual Result<std::vector<EventRecord>> query_events(const EventQuery& q) = 0;
  // Deletes events older than max_age and beyond the newest max_rows, in one transaction;
  // returns rows deleted.
  virtual Result<int64_t> apply_retention(const Retention& r, int64_t now_ms) = 0;
  virtual Result<int64_t> count_events() = 0;

  // One lease round of one engine, in one transaction (docs/design/scale_out.md): heartbeat
  // (engines row, liveness = now + lease in the database's clock), release, renew (only
  // streams whose lease still has this engine and that epoch; expired-but-unclaimed renews),
  // then claim: streams without a lease row get one (epoch 0), the claimable rows are locked
  // with FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite's write lock serialises rounds), the
  // planner picks, and each pick gets this engine, epoch + 1 and a fresh expiry. PostgreSQL
  // NOTIFYs orion_leases when a lease was released or claimed.
  // Errors: store.invalid (empty engine id, lease <= 0), store.io.
  virtual Result<LeaseRoundResult> lease_round(const LeaseRound& round) = 0;
  virtual Result<std::vector<LeaseRecord>> list_leases() = 0;
  // Every engine with its state, capacity, live leases held and liveness (database clock).
  virtual Result<std::vector<EngineLoad>> list_engine_loads() = 0;
  // Waits until another engine released or claimed a lease, or the desired state changed
  // (PostgreSQL: NOTIFY orion_leases on a connection of its own), or `limit` passed; returns
  // whether it was woken. SQLite: waits `limit` unless this Store changed something.
  virtual Result<bool> wait_lease_change(Duration limit) = 0;
};

}  // namespace orion::store
