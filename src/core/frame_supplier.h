// FrameSupplier: hands every subscriber the newest frame of one stream — a mailbox, never a
// queue — without copying pixels, with a publish() that never waits on anyone. The one
// exception, asked for at subscribe(): a bounded queue of every frame, for the output
// compositor, which must show each camera frame once (ADR 0090).
// Design and memory-ordering argument: docs/design/frame_supplier.md.
//
//   producer ──publish()──► inbox (1 slot, overwrite) ──► distribution thread
//        writes every subscriber's mailbox (1 slot, overwrite), then wakes the blocked ones:
//        itself when at most `sequential_threshold` must be woken, otherwise in batches on a
//        fixed pool of notifier threads, fire and forget.
//   subscriber ──next_frame()──► newest frame not taken yet, never the same twice, never older.
//
// Lifecycle: construct (starts its threads) → publish()/subscribe() from any thread →
// stop() (or destruction) closes every mailbox: blocked and later next_frame() calls return
// the "closed" error. Subscriptions may outlive the supplier; they are closed then.
// If one of its threads dies (an exception escapes it, e.g. from on_mailboxes_written), the
// supplier stops itself the same way: publish() returns false, every mailbox is closed, and
// stats().failure says which thread died and why; stop() still joins the threads.
//
// Ordering: a frame whose sequence is not greater than the last accepted one is rejected by
// publish() and counted (rejected_stale). Sequences therefore start at 1 and only grow.
//
// Statistics are exact and conserve, per subscriber, at every instant a snapshot is taken:
//   offered = taken + dropped + pending   (pending is 0 or 1; up to depth for a queue).
// A frame still pending when the mailbox closes is counted as dropped.
//
// Thread-safety: every public member is thread-safe.
// Lock order: subscribers_mu_ → Mailbox::mu. inbox_mu_ and a notifier's mu are leaves
// (annotated for Clang's -Wthread-safety; docs/design/threads.md has the order across modules).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/frame.h"
#include "core/result.h"
#include "core/time.h"

namespace orion {

enum class SlaClass : uint8_t { kCritical = 0, kBestEffort = 1 };
std::string_view to_string(SlaClass sla);
Result<SlaClass> parse_sla(std::string_view text);

struct SubscriberStats {
  std::string name;
  SlaClass sla = SlaClass::kBestEffort;
  uint64_t offered = 0;   // frames written into the mailbox
  uint64_t taken = 0;     // frames returned by next_frame()
  uint64_t dropped = 0;   // frames overwritten (or closed) before being taken
  uint64_t pending = 0;   // frames waiting in the mailbox (0 or 1; up to depth for a queue)
  Timestamp last_take_time;    // unset until the first take
  Duration last_frame_age;     // now - capture_time of the frame, at the last take
  Duration max_frame_age;      // largest such age seen
  bool closed = false;
};

struct SupplierStats {
  uint64_t published = 0;          // frames accepted by publish()
  uint64_t rejected_stale = 0;     // frames refused: sequence not newer than the last accepted
  uint64_t inbox_overwritten = 0;  // accepted frames replaced in the inbox before distribution
  uint64_t distributed = 0;        // frames the distribution thread delivered
  size_t notifier_threads = 0;     // notifier threads running (started on first need)
  std::string failure;             // why a supplier thread died and stopped it ("" if none did)
  std::vector<SubscriberStats> subscribers;
};

struct FrameSupplierOptions {
  std::string name = "supplier";          // names the threads (truncated to 15 chars)
  size_t sequential_threshold = 8;        // wake at most this many waiters inline
  size_t notifier_threads = 2;            // fixed pool used above the threshold, started the
                                          // first time it is needed
  // Times takes (stats) and the timed waits of next_frame(timeout), which wait through it.
  const Clock* clock = nullptr;           // nullptr: SteadyClock::instance()
  // Run the distribution and notifier threads under SCHED_BATCH, so that waking them never
  // preempts the producer inside publish() (ADR 0006). Off: they use the caller's policy.
  bool batch_scheduling = true;
  // Called on the distribution thread once every mailbox holds `frame` (before any wake), with
  // the time the thread took the frame from the inbox and the time the last mailbox was written.
  // For instrumentation; must be cheap and must not call back into the supplier.
  std::function<void(const FramePtr& frame, Timestamp taken_from_inbox, Timestamp all_written)>
      on_mailboxes_written;
};

class FrameSupplier;

// A subscriber's end: its mailbox. Move-only handle; destroying it unsubscribes.
// Thread-safety: next_frame() is meant for one consumer thread; stats()/unsubscribe() may be
// called from any thread.
class Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Blocks until a frame newer than the last one taken is there (a queue: the oldest pending), up
  // to `timeout` measured on the supplier's clock (with a FakeClock, the wait ends when the clock
  // is advanced past it). Errors: "timeout" (nothing new in time), "closed" (unsubscribed or
  // supplier stopped).
  Result<FramePtr> next_frame(Duration timeout = Duration::max());
  // Never blocks: the pending frame, or "empty" / "closed".
  Result<FramePtr> try_next_frame();
  void unsubscribe();
  SubscriberStats stats() const;
  const std::string& name() const { return name_; }

  struct Mailbox;  // implementation detail, shared with the supplier

 private:
  friend class FrameSupplier;
  Subscription(std::string name, std::shared_ptr<Mailbox> mailbox,
               std::weak_ptr<void> supplier_core);
  std::string name_;
  std::shared_ptr<Mailbox> mailbox_;
  std::weak_ptr<void> core_;
};

class FrameSupplier {
 public:
  explicit FrameSupplier(FrameSupplierOptions options = {});
  ~FrameSupplier();
  FrameSupplier(const FrameSupplier&) = delete;
  FrameSupplier& operator=(const FrameSupplier&) = delete;

  // Overwrites the inbox and returns; never waits on a subscriber. Returns false (and keeps
  // nothing) when stopped or when the frame is not newer than the last accepted one.
  // Precondition: frame != nullptr. Ownership: the supplier shares the frame (transfer full).
  bool publish(FramePtr frame);

  // A new mailbox. It starts with the newest distributed frame, if any.
  // depth 1 (workers): the newest frame only, from the distribution thread.
  // depth > 1 (the output compositor, ADR 0090): a queue of up to `depth` frames, every
  // published frame in order, the oldest dropped (and counted) when all are pending. publish()
  // feeds queues itself, so a distribution thread that falls behind never collapses two
  // frames for them; next_frame() then returns the oldest pending frame.
  std::unique_ptr<Subscription> subscribe(std::string name, SlaClass sla = SlaClass::kBestEffort,
                                          size_t depth = 1);

  SupplierStats stats() const;
  size_t subscriber_count() const;

  // Idempotent. Joins the threads; closes every mailbox.
  void stop();

  struct Core;  // implementation detail

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace orion
