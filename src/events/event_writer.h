// EventWriter: turns detection results into event rows in the Store, off the video path.
//
// The supervisor hands every accepted DetectionResult to offer(). offer() applies the result's
// pipeline's EventPolicy, turns each detection that passes into a store::EventRecord bound to
// the frame's identity and puts it in a bounded queue; it never touches the database and never
// waits for the writer thread. One writer thread takes the queue in batches, writes each batch
// in one Store::insert_events transaction, retries a failed batch a bounded number of times, and
// applies the retention (by age and by count) at start and then periodically. Design note:
// docs/design/events.md.
//
// Policy (set per pipeline by the reconciler: set_policy / remove_policy):
//   - a result of a pipeline with no policy, or with policy.enabled false, produces nothing
//     (its detections are counted `ignored`);
//   - classes: empty = every class; else a detection's class_name, or its class_id written as
//     decimal text ("0", "17"), must be one of them (else `filtered`);
//   - score: detection.score >= min_score (else `filtered`);
//   - interval: at most one event per (pipeline, class) per min_interval_ms (0: no limit), the
//     others `rate_limited`. The interval is measured on the frame's own capture time
//     (FrameIdentity::capture_time), not on when the result arrived: which detections become
//     events depends only on the frames and their detections, never on worker speed or on
//     this thread's timing. An event is kept when its frame is at least min_interval_ms away
//     from the last event kept for that (pipeline, class) in either direction, so a capture
//     time that goes backwards (a restarted or re-timed source) is measured from the last
//     kept event and never blocks the class for longer than the interval. Inside one result,
//     the detection of a class with the highest score takes the slot (ties: the first). A
//     class is its class_id when >= 0, else its class_name. Up to kMaxClassSlots classes per
//     pipeline are remembered; beyond that the pipeline's interval state starts afresh.
//   - a detection the store could not hold (a score or box coordinate that is not finite, a
//     frame sequence above 2^63-1) is counted `invalid` and not queued.
// Changing a pipeline's policy keeps its interval state; removing it forgets it. Events
// already queued are written whatever happens to the policy afterwards.
//
// Event fields: stream = the stream named by set_policy; pipeline = DetectionResult::pipeline;
// sequence, pts_ns, capture_ns from the FrameIdentity; wall_time_ms = Unix time in ms when
// offer() was called, read from EventWriterOptions::wall_time_ms (core's Clock has no wall
// time: this source is injectable, the system clock when empty); class_id, class_name, score
// and the box from the detection.
//
// Queue and batches: at most queue_capacity events are held (queued, or being written) at any
// time; an event offered beyond that is counted `dropped` and forgotten (memory never grows
// without bound). Events are grouped into batches of max_batch in offer order; a full batch is
// written at once, a partial one when its first event has waited flush_interval (on the
// injected Clock) or at stop(). A batch the store refuses:
//   - store.invalid (a row it cannot hold, e.g. text that is not UTF-8): retrying cannot help,
//     so the batch is split in halves, each written on its own, down to the single rows it
//     refuses, which are counted `invalid`; every other row is written;
//   - store.unavailable (the database cannot be reached: PostgreSQL down or restarting):
//     counted in `write_errors`, retried after EventWriterOptions::retry without a limit on
//     attempts: the events stay buffered (`queued`) for as long as the outage lasts, bounded
//     by queue_capacity — events offered beyond it are `dropped` — and are written, oldest
//     first, once the store is back (docs/design/db_resilience.md);
//   - any other error (store.io: the database is locked, read-only, full): counted in
//     `write_errors` (one per failed call), retried after EventWriterOptions::retry (core
//     Backoff, waited on the injected Clock) up to max_attempts calls in all, then the batch
//     is counted `failed` and dropped. The writer then goes on with the next batch: a store
//     that comes back is written to again.
// Retention: Store::apply_retention(retention, wall_time_ms()) once when the thread starts,
// then every retention_interval (on the injected Clock); a failure is counted and tried again
// at the next interval. Both limits 0 turns retention off (no calls).
//
// Counters (stats()) are exact and conserve at every snapshot (they are read under one lock):
//   detections == ignored + filtered + rate_limited + invalid + dropped + queued + written
//                 + failed
// results counts every offer(); batches counts successful insert_events calls.
//
// Lifecycle: construct (invalid options are a broken contract: validate() first when they come
// from a user; the constructor aborts naming the bad field) → start() → offer()... → stop().
// offer() before start() queues (written once started). stop() writes what is queued: one
// attempt per batch, no more retries or backoff waits, within stop_timeout on the injected
// Clock (what is left after it is counted `failed`), then joins the thread; a writer never
// started drains the same way on the caller's thread. offer() after stop() counts the events
// it would have queued as `dropped`. stop() is idempotent; the destructor calls it. A stopped
// writer does not start again.
//
// Thread-safety: every public member is thread-safe. Locks: mu_ guards the policies, the
// interval state, the queue and the counters; it is held only for O(detections) work in
// offer() and O(1) work by the writer thread (taking a batch, adding counts), never while the
// Store, the wall-time source or anything else outside this class runs — except the Clock's
// own wait (mu_ → FakeClock::mu_, as for every clock wait; docs/design/threads.md). The
// Store's own lock is taken by the writer thread with mu_ released. lifecycle_mu_ serialises
// start() and stop() and guards the thread handle; lock order lifecycle_mu_ → mu_ (stop()
// marks the writer stopped under both; it joins holding lifecycle_mu_ only).
// Ownership: the Store and the Clock are borrowed and must outlive the writer.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/detection.h"
#include "core/result.h"
#include "core/thread_annotations.h"
#include "core/time.h"
#include "store/store.h"

namespace orion::events {

// Unix time in milliseconds. Called from offer()'s callers and from the writer thread: must be
// thread-safe.
using WallTimeMs = std::function<int64_t()>;

// std::chrono::system_clock in Unix milliseconds (the default wall-time source).
int64_t system_wall_time_ms();

// The row of detection `d` of result `r` of a pipeline on `stream`, seen at `wall_ms` (id left
// 0 for the store): what the writer stores for a detection its policy lets through.
store::EventRecord event_record(const std::string& stream, const DetectionResult& r,
                                const Detection& d, int64_t wall_ms);

struct EventWriterOptions {
  size_t queue_capacity = 8192;  // events held (queued or being written); beyond: dropped
  size_t max_batch = 500;        // rows per insert_events transaction (>= 1)
  Duration flush_interval = Duration::millis(200);      // a partial batch waits at most this long
  store::Retention retention;                           // applied at start, then every interval
  Duration retention_interval = Duration::seconds(60);  // > 0
  // A batch that fails with something other than store.invalid or store.unavailable: at most
  // max_attempts calls in all (>= 1), waiting retry.next() between them.
  int max_attempts = 5;
  BackoffPolicy retry{Duration::millis(100), Duration::seconds(2), 2.0};
  Duration stop_timeout = Duration::seconds(5);  // stop(): writing what is queued, at most
  WallTimeMs wall_time_ms;                       // empty: system_wall_time_ms
  // Scale-out: the lease epoch of a stream, stamped on its events when offered (the database
  // refuses events of a stale epoch: store.stale_epoch). Empty: 0. Called under the writer's
  // lock from offer()'s thread: must be quick and thread-safe.
  std::function<int64_t(const std::string& stream)> epoch_of;
};

struct EventWriterStats {
  uint64_t results = 0;            // offer() calls
  uint64_t detections = 0;         // detections in them
  uint64_t ignored = 0;            // of pipelines without a policy, or with a disabled one
  uint64_t filtered = 0;           // class not listed, or score below min_score
  uint64_t rate_limited = 0;       // within min_interval_ms of the last event of their class
  uint64_t invalid = 0;            // not storable (checked in offer(), or refused by the store)
  uint64_t queued = 0;             // now: waiting for the database or being written
  uint64_t written = 0;            // rows committed
  uint64_t dropped = 0;            // queue full (or offered after stop())
  uint64_t failed = 0;             // given up: max_attempts failed writes, or stop_timeout passed
  uint64_t write_errors = 0;       // failed insert_events calls (each attempt)
  uint64_t batches = 0;            // successful insert_events calls
  uint64_t retention_runs = 0;     // successful apply_retention calls
  uint64_t retention_deleted = 0;  // rows they deleted
  uint64_t retention_errors = 0;   // failed apply_retention calls
  std::string last_error;          // the last store error (code: message), "" = none yet
};

class EventWriter {
 public:
  // Classes remembered per pipeline for the interval (bounds the memory a worker reporting
  // ever new class names could take).
  static constexpr size_t kMaxClassSlots = 1024;

  // The errors the constructor would abort on, as "events.invalid: field '...' ...".
  static Status validate(const EventWriterOptions& options);

  // `store` and `clock` must outlive the writer.
  EventWriter(store::Store& store, const Clock& clock, EventWriterOptions options);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Starts the writer thread ("orion-events"). Idempotent; no-op after stop().
  void start() EXCLUDES(mu_);
  // Writes what is queued (see above), joins. Idempotent.
  void stop() EXCLUDES(mu_);

  // Sets (or replaces) the policy of `pipeline`, whose events name `stream`. Errors
  // ("events.invalid", naming the field): an empty pipeline or stream name, a min_score that
  // is not finite, a negative min_interval_ms, an empty class entry. The old policy (if any)
  // stays on error.
  Status set_policy(const std::string& pipeline, const std::string& stream,
                    const store::EventPolicy& policy) EXCLUDES(mu_);
  // Forgets the policy and interval state of `pipeline` (no-op when it has none).
  void remove_policy(const std::string& pipeline) EXCLUDES(mu_);

  // On the supervisor's result path, for every accepted result: never blocks on the database
  // or waits for the writer thread, O(detections); a full queue drops and counts.
  void offer(const DetectionResult& r) EXCLUDES(mu_);

  EventWriterStats stats() const EXCLUDES(mu_);

 private:
  using Batch = std::vector<store::EventRecord>;

  struct ClassSlot {
    Timestamp last;  // capture time of the last event kept
    bool has_last = false;
    uint64_t chosen_offer = 0;  // offer_serial_ of the offer that last took this slot
    size_t chosen_index = 0;    // and the index of its detection in that result
  };
  struct PipelinePolicy {
    std::string stream;
    store::EventPolicy policy;
    std::unordered_set<std::string> class_names;  // policy.classes
    std::unordered_set<int> class_ids;            // the entries that are decimal integers
    std::unordered_map<int, ClassSlot> slots_by_id;
    std::map<std::string, ClassSlot, std::less<>> slots_by_name;  // class_id < 0
    size_t slot_count() const { return slots_by_id.size() + slots_by_name.size(); }
  };

  bool class_listed(const PipelinePolicy& p, const Detection& d) const;
  ClassSlot& slot_locked(PipelinePolicy& p, const Detection& d) REQUIRES(mu_);
  // Queues one event; returns true when the writer should be woken.
  bool enqueue_locked(store::EventRecord&& e, Timestamp now) REQUIRES(mu_);
  Batch spare_batch_locked() REQUIRES(mu_);

  void run(std::stop_token stop) EXCLUDES(mu_);
  // Writes what is queued, one attempt per batch, until empty or the stop deadline.
  void drain() EXCLUDES(mu_);
  // Writes `rows` with the retry rules above; `final_attempt`: no retries (stopping).
  void write(const Batch& rows, bool final_attempt, const std::stop_token& stop) EXCLUDES(mu_);
  // Counts `n` queued events as given up (`failed`).
  void give_up(size_t n) EXCLUDES(mu_);
  void apply_retention() EXCLUDES(mu_);
  void recycle(Batch&& b) EXCLUDES(mu_);

  store::Store& store_;
  const Clock& clock_;
  const EventWriterOptions options_;  // constant after construction: read without a lock
  const WallTimeMs wall_ms_;          // likewise
  Backoff backoff_;                   // the writer thread's (or the draining caller's) alone

  Mutex lifecycle_mu_ ACQUIRED_BEFORE(mu_);  // serialises start()/stop(); mu_ may nest inside
  mutable Mutex mu_;
  std::condition_variable_any cv_;  // offer() → writer: a batch is full, or the first event
                                    // of a partial batch came
  std::unordered_map<std::string, PipelinePolicy> policies_ GUARDED_BY(mu_);
  uint64_t offer_serial_ GUARDED_BY(mu_) = 0;
  std::vector<uint8_t> take_ GUARDED_BY(mu_);  // offer()'s scratch: which detections to queue
  std::deque<Batch> full_ GUARDED_BY(mu_);     // full batches, oldest first
  Batch filling_ GUARDED_BY(mu_);              // the partial batch after them
  Timestamp filling_since_ GUARDED_BY(mu_);    // when its first event came
  std::vector<Batch> spare_ GUARDED_BY(mu_);   // emptied batches, their capacity kept
  EventWriterStats stats_ GUARDED_BY(mu_);
  bool started_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;  // stop() was called: offers are dropped
  Timestamp stop_deadline_ GUARDED_BY(mu_) = Clock::kNever;
  std::jthread thread_ GUARDED_BY(lifecycle_mu_);  // started by start(), joined by stop()
};

}  // namespace orion::events
