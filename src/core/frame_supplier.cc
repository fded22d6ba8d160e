#include "core/frame_supplier.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <utility>

#include "core/thread.h"
#include "core/thread_annotations.h"

namespace orion {

std::string_view to_string(SlaClass sla) {
  return sla == SlaClass::kCritical ? "critical" : "best_effort";
}

Result<SlaClass> parse_sla(std::string_view text) {
  if (text == "critical") return SlaClass::kCritical;
  if (text == "best_effort" || text == "best-effort") return SlaClass::kBestEffort;
  return make_error("sla.invalid", "'" + std::string(text) +
                                       "' is not an sla class (expected critical or best_effort)");
}

namespace {
// SCHED_BATCH: same share of CPU as SCHED_OTHER, but a woken batch thread never preempts the
// running thread (ADR 0006). Best effort: a failure leaves the default policy.
void use_batch_scheduling() {
  sched_param sp{};
  sp.sched_priority = 0;
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Mailbox: one subscriber's slots — one (a mailbox: the newest frame) or `depth` (a queue:
// every frame in order, fed by publish() itself). Every field below `mu` is guarded by it;
// name, sla, depth and clock are constants. Lock order: Core::subscribers_mu → mu (subscribe()
// delivers the latest frame under the list lock) → the clock's (a timed next_frame() waits
// through it).
struct Subscription::Mailbox {
  Mailbox(std::string n, SlaClass s, size_t d, const Clock* c)
      : name(std::move(n)), sla(s), depth(std::max<size_t>(1, d)), clock(c), ring(depth) {}

  const std::string name;
  const SlaClass sla;
  const size_t depth;  // 1: mailbox, distributed; > 1: queue, fed by publish()
  const Clock* const clock;

  mutable Mutex mu;
  // _any: a timed next_frame() waits through the supplier's Clock, which needs one (clock.h).
  std::condition_variable_any cv;
  // Pending frames, oldest at `head`; `count` of them (0..depth). A ring: no allocation.
  std::vector<FramePtr> ring GUARDED_BY(mu);
  size_t head GUARDED_BY(mu) = 0;
  size_t count GUARDED_BY(mu) = 0;
  uint64_t last_delivered GUARDED_BY(mu) = 0;  // sequence: delivery never goes backwards
  int waiters GUARDED_BY(mu) = 0;
  bool closed GUARDED_BY(mu) = false;
  uint64_t offered GUARDED_BY(mu) = 0;
  uint64_t taken GUARDED_BY(mu) = 0;
  uint64_t dropped GUARDED_BY(mu) = 0;
  Timestamp last_take_time GUARDED_BY(mu);
  Duration last_age GUARDED_BY(mu);
  Duration max_age GUARDED_BY(mu);

  // Adds `f` behind the pending ones; when all `depth` slots are full, the oldest is dropped
  // (a mailbox: the pending frame is replaced). The dropped frame goes to `displaced` so that
  // its release (maybe the last reference, running a pool deleter) happens after the lock is
  // dropped. A frame not newer than the last delivered one is ignored (two racing publishers).
  // Returns true when a consumer is blocked and must be woken.
  bool deliver(const FramePtr& f, FramePtr& displaced) EXCLUDES(mu) {
    MutexLock lock(mu);
    if (closed) return false;
    const uint64_t seq = f->identity().sequence;
    if (seq <= last_delivered) return false;
    last_delivered = seq;
    if (count == depth) {
      displaced = std::move(ring[head]);
      head = (head + 1) % depth;
      --count;
      ++dropped;
    }
    ring[(head + count) % depth] = f;
    ++count;
    ++offered;
    return waiters > 0;
  }

  void close(std::vector<FramePtr>& displaced) EXCLUDES(mu) {
    {
      MutexLock lock(mu);
      if (closed) return;
      closed = true;
      dropped += count;
      for (; count > 0; --count, head = (head + 1) % depth)
        displaced.push_back(std::move(ring[head]));
    }
    cv.notify_all();
  }

  bool pending_locked() const REQUIRES(mu) { return count > 0; }

  // Precondition: pending_locked().
  FramePtr take_locked() REQUIRES(mu) {
    FramePtr f = std::move(ring[head]);
    head = (head + 1) % depth;
    --count;
    ++taken;
    last_take_time = clock->now();
    last_age = last_take_time - f->identity().capture_time;
    max_age = std::max(max_age, last_age);
    return f;
  }

  SubscriberStats stats() const EXCLUDES(mu) {
    MutexLock lock(mu);
    SubscriberStats s;
    s.name = name;
    s.sla = sla;
    s.offered = offered;
    s.taken = taken;
    s.dropped = dropped;
    s.pending = count;
    s.last_take_time = last_take_time;
    s.last_frame_age = last_age;
    s.max_frame_age = max_age;
    s.closed = closed;
    return s;
  }
};

using Mailbox = Subscription::Mailbox;
using MailboxList = std::vector<std::shared_ptr<Mailbox>>;

// ---------------------------------------------------------------------------------------------
// A notifier thread wakes the blocked consumers it is handed. Its job is itself a single slot:
// a newer job replaces an older one not yet started. That is safe because every job lists every
// consumer still blocked when its frame was delivered, a superset of the older job's.
// mu is a leaf (the notifier wakes the mailboxes' condition variables after dropping it).
struct Notifier {
  Mutex mu;
  std::condition_variable cv;
  std::shared_ptr<const MailboxList> snapshot GUARDED_BY(mu);  // keeps the mailboxes alive
  std::vector<uint32_t> job GUARDED_BY(mu);                    // indices into snapshot
  bool has_job GUARDED_BY(mu) = false;
  bool stop GUARDED_BY(mu) = false;
  std::jthread thread;

  void run(bool batch) {
    if (batch) use_batch_scheduling();
    std::vector<uint32_t> mine;
    std::shared_ptr<const MailboxList> snap;
    for (;;) {
      {
        UniqueLock lock(mu);
        cv.wait(lock.native(), [&] {
          mu.assert_held();  // the predicate runs with mu held
          return has_job || stop;
        });
        if (stop) return;
        mine.swap(job);
        snap = std::move(snapshot);
        has_job = false;
      }
      for (uint32_t i : mine) (*snap)[i]->cv.notify_one();
      mine.clear();
      snap.reset();
    }
  }
};

// ---------------------------------------------------------------------------------------------
struct FrameSupplier::Core {
  explicit Core(FrameSupplierOptions o)
      : options(std::move(o)),
        clock(options.clock ? options.clock : &SteadyClock::instance()),
        threshold(std::max<size_t>(1, options.sequential_threshold)) {}

  const FrameSupplierOptions options;
  const Clock* const clock;
  const size_t threshold;

  // Inbox. Guarded by inbox_mu, a leaf (never held with another lock of the supplier).
  mutable Mutex inbox_mu;
  std::condition_variable inbox_cv;
  FramePtr inbox GUARDED_BY(inbox_mu);
  bool distributor_waiting GUARDED_BY(inbox_mu) = false;
  // stop() was called or a thread died: publish() refuses.
  bool stopping GUARDED_BY(inbox_mu) = false;
  // stop() was called (it joins the threads once).
  bool stop_requested GUARDED_BY(inbox_mu) = false;
  std::string failure GUARDED_BY(inbox_mu);  // why a thread died ("" while none did)
  uint64_t last_sequence GUARDED_BY(inbox_mu) = 0;
  uint64_t published GUARDED_BY(inbox_mu) = 0;
  uint64_t rejected_stale GUARDED_BY(inbox_mu) = 0;
  uint64_t inbox_overwritten GUARDED_BY(inbox_mu) = 0;

  // Subscribers. Guarded by subscribers_mu. The list is copy-on-write: the distributor takes a
  // reference to the current list and walks it without holding the lock.
  mutable Mutex subscribers_mu ACQUIRED_BEFORE(Mailbox::mu);
  std::shared_ptr<const MailboxList> subscribers GUARDED_BY(subscribers_mu) =
      std::make_shared<MailboxList>();
  // The newest distributed frame, handed to new subscribers.
  FramePtr latest GUARDED_BY(subscribers_mu);
  bool closed GUARDED_BY(subscribers_mu) = false;

  std::atomic<uint64_t> distributed{0};  // read without a lock (stats)
  // Subscribers with depth > 1 (publish() feeds them; 0: it skips the list lock).
  std::atomic<size_t> queues{0};

  // Started by the distribution thread the first time more than `threshold` consumers must be
  // woken (most streams never need them); fixed from then on. Joined by stop() after the
  // distribution thread, so only that thread touches the vector while it runs.
  std::vector<std::unique_ptr<Notifier>> notifiers;
  std::atomic<size_t> notifiers_started{0};
  std::jthread distributor;

  // Owned by the distribution thread only.
  std::vector<uint32_t> to_wake;
  std::vector<std::vector<uint32_t>> staging;

  void distribute_loop() {
    if (options.batch_scheduling) use_batch_scheduling();
    for (;;) {
      FramePtr frame;
      {
        UniqueLock lock(inbox_mu);
        while (!inbox && !stopping) {
          distributor_waiting = true;
          inbox_cv.wait(lock.native());
          distributor_waiting = false;
        }
        if (stopping) return;
        frame = std::move(inbox);
        inbox = nullptr;
      }
      distribute(frame);
    }
  }

  void distribute(const FramePtr& frame) {
    const Timestamp started = options.on_mailboxes_written ? clock->now() : Timestamp();
    std::shared_ptr<const MailboxList> snap;
    FramePtr previous_latest;
    {
      MutexLock lock(subscribers_mu);
      snap = subscribers;
      previous_latest = std::exchange(latest, frame);
    }
    // Phase 1: write every mailbox. Cheap (a lock, a pointer swap), so done inline for all.
    to_wake.clear();
    const MailboxList& list = *snap;
    for (uint32_t i = 0; i < list.size(); ++i) {
      if (list[i]->depth > 1) continue;  // a queue: publish() fed it
      FramePtr displaced;
      if (list[i]->deliver(frame, displaced)) to_wake.push_back(i);
    }
    if (options.on_mailboxes_written) options.on_mailboxes_written(frame, started, clock->now());
    distributed.fetch_add(1, std::memory_order_relaxed);

    // Phase 2: wake the blocked consumers (each wake may be a syscall).
    if (to_wake.size() > threshold && notifiers.empty()) start_notifiers();
    if (to_wake.size() <= threshold || notifiers.empty()) {
      for (uint32_t i : to_wake) list[i]->cv.notify_one();
      return;
    }
    // Batches of `threshold`: batch 0 stays here, the others go round-robin to the notifiers.
    const size_t batches = (to_wake.size() + threshold - 1) / threshold;
    for (auto& s : staging) s.clear();
    for (size_t b = 1; b < batches; ++b) {
      auto& out = staging[(b - 1) % notifiers.size()];
      const size_t end = std::min(to_wake.size(), (b + 1) * threshold);
      out.insert(out.end(), to_wake.begin() + static_cast<ptrdiff_t>(b * threshold),
                 to_wake.begin() + static_cast<ptrdiff_t>(end));
    }
    for (size_t n = 0; n < notifiers.size(); ++n) {
      if (staging[n].empty()) continue;
      Notifier& nt = *notifiers[n];
      {
        MutexLock lock(nt.mu);
        nt.job.swap(staging[n]);  // staging[n] gets the old (maybe unstarted) job back
        nt.snapshot = snap;
        nt.has_job = true;
      }
      nt.cv.notify_one();
    }
    for (size_t k = 0; k < threshold; ++k) list[to_wake[k]]->cv.notify_one();
  }

  void start_notifiers() {
    for (size_t i = 0; i < options.notifier_threads; ++i) {
      auto n = std::make_unique<Notifier>();
      Notifier* raw = n.get();
      std::string tname = options.name + "-n" + std::to_string(i);
      n->thread = std::jthread([this, raw, tname, batch = options.batch_scheduling] {
        run_guarded(
            tname, [raw, batch] { raw->run(batch); },
            [this, &tname](std::string_view why) {
              fail("thread " + tname + ": " + std::string(why));
            });
      });
      notifiers.push_back(std::move(n));
    }
    staging.resize(notifiers.size());
    notifiers_started.store(notifiers.size(), std::memory_order_relaxed);
  }

  // A thread of the supplier died (run_guarded caught what escaped it): the supplier stops as
  // stop() would, except that it cannot join its own thread; stop() still joins them all.
  void fail(std::string why) {
    FramePtr inbox_left;  // released after the lock is dropped
    {
      MutexLock lock(inbox_mu);
      if (failure.empty()) failure = std::move(why);
      stopping = true;
      inbox_left = std::move(inbox);
      inbox = nullptr;
    }
    inbox_cv.notify_one();
    close_mailboxes();
  }

  // Closes every mailbox (blocked consumers get "closed") and refuses new subscribers.
  void close_mailboxes() {
    std::shared_ptr<const MailboxList> snap;
    FramePtr latest_left;
    {
      MutexLock lock(subscribers_mu);
      closed = true;
      snap = std::exchange(subscribers, std::make_shared<MailboxList>());
      latest_left = std::move(latest);
    }
    for (const auto& m : *snap) {
      std::vector<FramePtr> displaced;
      m->close(displaced);
    }
  }

  void remove(const std::shared_ptr<Mailbox>& mb) {
    MutexLock lock(subscribers_mu);
    auto next = std::make_shared<MailboxList>();
    next->reserve(subscribers->size());
    for (const auto& m : *subscribers)
      if (m != mb) next->push_back(m);
      else if (m->depth > 1)
        queues.fetch_sub(1, std::memory_order_relaxed);
    subscribers = std::move(next);
  }

  // publish(), on the producer's thread, after the inbox: every queue gets the frame and its
  // blocked consumer is woken. A lock and a pointer copy per queue; never waits on a consumer
  // beyond its short critical section.
  void feed_queues(const FramePtr& frame) {
    std::shared_ptr<const MailboxList> snap;
    {
      MutexLock lock(subscribers_mu);
      snap = subscribers;
    }
    for (const auto& m : *snap) {
      if (m->depth == 1) continue;
      FramePtr displaced;
      if (m->deliver(frame, displaced)) m->cv.notify_one();
    }
  }
};

// ---------------------------------------------------------------------------------------------
FrameSupplier::FrameSupplier(FrameSupplierOptions options)
    : core_(std::make_shared<Core>(std::move(options))) {
  Core& c = *core_;
  c.distributor = std::jthread([&c] {
    run_guarded(
        c.options.name + "-dist", [&c] { c.distribute_loop(); },
        [&c](std::string_view why) { c.fail("distribution thread: " + std::string(why)); });
  });
}

FrameSupplier::~FrameSupplier() { stop(); }

bool FrameSupplier::publish(FramePtr frame) {
  assert(frame && "FrameSupplier::publish: null frame");
  Core& c = *core_;
  FramePtr displaced;  // released after the lock is dropped
  // Queues (depth > 1) get every frame from here, not from the inbox, which a slow
  // distribution thread may overwrite.
  FramePtr for_queues = c.queues.load(std::memory_order_relaxed) > 0 ? frame : nullptr;
  bool wake;
  {
    MutexLock lock(c.inbox_mu);
    if (c.stopping) return false;
    const uint64_t seq = frame->identity().sequence;
    if (seq <= c.last_sequence) {
      ++c.rejected_stale;
      return false;
    }
    c.last_sequence = seq;
    ++c.published;
    if (c.inbox) ++c.inbox_overwritten;
    displaced = std::exchange(c.inbox, std::move(frame));
    wake = c.distributor_waiting;
  }
  if (wake) c.inbox_cv.notify_one();
  if (for_queues) c.feed_queues(for_queues);
  return true;
}

std::unique_ptr<Subscription> FrameSupplier::subscribe(std::string name, SlaClass sla,
                                                       size_t depth) {
  Core& c = *core_;
  auto mb = std::make_shared<Mailbox>(name, sla, depth, c.clock);
  {
    MutexLock lock(c.subscribers_mu);
    if (c.closed) {
      MutexLock mlock(mb->mu);  // not shared yet: taken for the analysis, in the lock order
      mb->closed = true;
    } else {
      auto next = std::make_shared<MailboxList>(*c.subscribers);
      next->push_back(mb);
      c.subscribers = std::move(next);
      if (mb->depth > 1) c.queues.fetch_add(1, std::memory_order_relaxed);
      if (c.latest) {
        FramePtr none;
        mb->deliver(c.latest, none);
      }
    }
  }
  return std::unique_ptr<Subscription>(
      new Subscription(std::move(name), std::move(mb), std::weak_ptr<void>(core_)));
}

SupplierStats FrameSupplier::stats() const {
  const Core& c = *core_;
  SupplierStats s;
  {
    MutexLock lock(c.inbox_mu);
    s.published = c.published;
    s.rejected_stale = c.rejected_stale;
    s.inbox_overwritten = c.inbox_overwritten;
    s.failure = c.failure;
  }
  s.distributed = c.distributed.load(std::memory_order_relaxed);
  s.notifier_threads = c.notifiers_started.load(std::memory_order_relaxed);
  std::shared_ptr<const MailboxList> snap;
  {
    MutexLock lock(c.subscribers_mu);
    snap = c.subscribers;
  }
  s.subscribers.reserve(snap->size());
  for (const auto& m : *snap) s.subscribers.push_back(m->stats());
  return s;
}

size_t FrameSupplier::subscriber_count() const {
  MutexLock lock(core_->subscribers_mu);
  return core_->subscribers->size();
}

void FrameSupplier::stop() {
  Core& c = *core_;
  {
    MutexLock lock(c.inbox_mu);
    if (c.stop_requested) return;
    c.stop_requested = true;
    c.stopping = true;
  }
  c.inbox_cv.notify_one();
  if (c.distributor.joinable()) c.distributor.join();
  for (auto& n : c.notifiers) {
    {
      MutexLock lock(n->mu);
      n->stop = true;
    }
    n->cv.notify_one();
    if (n->thread.joinable()) n->thread.join();
  }
  FramePtr inbox_left;
  {
    MutexLock lock(c.inbox_mu);
    inbox_left = std::move(c.inbox);
  }
  c.close_mailboxes();
}

// ---------------------------------------------------------------------------------------------
Subscription::Subscription(std::string name, std::shared_ptr<Mailbox> mailbox,
                           std::weak_ptr<void> supplier_core)
    : name_(std::move(name)), mailbox_(std::move(mailbox)), core_(std::move(supplier_core)) {}

Subscription::~Subscription() { unsubscribe(); }

void Subscription::unsubscribe() {
  if (auto core = std::static_pointer_cast<FrameSupplier::Core>(core_.lock())) core->remove(mailbox_);
  std::vector<FramePtr> displaced;
  mailbox_->close(displaced);
}

Result<FramePtr> Subscription::next_frame(Duration timeout) {
  Mailbox& mb = *mailbox_;
  UniqueLock lock(mb.mu);
  if (timeout == Duration::max()) {
    while (!mb.pending_locked() && !mb.closed) {
      ++mb.waiters;
      mb.cv.wait(lock.native());
      --mb.waiters;
    }
  } else if (!mb.pending_locked() && !mb.closed) {
    // Through the supplier's clock: a FakeClock releases this wait when a test advances it.
    const Timestamp deadline = mb.clock->deadline_after(timeout);
    ++mb.waiters;
    const bool woken = mb.clock->wait_until(mb.cv, lock, deadline, {}, [&mb] {
      mb.mu.assert_held();  // the predicate runs with mu held
      return mb.pending_locked() || mb.closed;
    });
    --mb.waiters;
    if (!woken)
      return make_error("timeout", "no new frame for '" + name_ + "' within " +
                                       std::to_string(timeout.as_millis()) + " ms");
  }
  if (mb.closed) return make_error("closed", "subscription '" + name_ + "' is closed");
  return mb.take_locked();
}

Result<FramePtr> Subscription::try_next_frame() {
  Mailbox& mb = *mailbox_;
  MutexLock lock(mb.mu);
  if (mb.closed) return make_error("closed", "subscription '" + name_ + "' is closed");
  if (!mb.pending_locked()) return make_error("empty", "no new frame for '" + name_ + "'");
  return mb.take_locked();
}

SubscriberStats Subscription::stats() const { return mailbox_->stats(); }

}  // namespace orion
