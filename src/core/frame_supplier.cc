#include "core/frame_supplier.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <utility>

#include "core/thread.h"

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
// Mailbox: one subscriber's single slot. Every field below `mu` is guarded by it.
struct Subscription::Mailbox {
  Mailbox(std::string n, SlaClass s, const Clock* c) : name(std::move(n)), sla(s), clock(c) {}

  const std::string name;
  const SlaClass sla;
  const Clock* const clock;

  mutable std::mutex mu;
  // _any: a timed next_frame() waits through the supplier's Clock, which needs one (clock.h).
  std::condition_variable_any cv;
  FramePtr frame;  // non-null exactly when a frame is pending
  int waiters = 0;
  bool closed = false;
  uint64_t offered = 0, taken = 0, dropped = 0;
  Timestamp last_take_time;
  Duration last_age, max_age;

  // Puts `f` in the slot. The replaced frame goes to `displaced` so that its release (maybe the
  // last reference, running a pool deleter) happens after the lock is dropped.
  // Returns true when a consumer is blocked and must be woken.
  bool deliver(const FramePtr& f, FramePtr& displaced) {
    std::lock_guard lock(mu);
    if (closed) return false;
    if (frame) ++dropped;
    displaced = std::exchange(frame, f);
    ++offered;
    return waiters > 0;
  }

  void close(FramePtr& displaced) {
    {
      std::lock_guard lock(mu);
      if (closed) return;
      closed = true;
      if (frame) ++dropped;
      displaced = std::move(frame);
      frame = nullptr;
    }
    cv.notify_all();
  }

  // Caller holds `mu` and frame != nullptr.
  FramePtr take_locked() {
    FramePtr f = std::move(frame);
    frame = nullptr;
    ++taken;
    last_take_time = clock->now();
    last_age = last_take_time - f->identity().capture_time;
    max_age = std::max(max_age, last_age);
    return f;
  }

  SubscriberStats stats() const {
    std::lock_guard lock(mu);
    SubscriberStats s;
    s.name = name;
    s.sla = sla;
    s.offered = offered;
    s.taken = taken;
    s.dropped = dropped;
    s.pending = frame ? 1 : 0;
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
struct Notifier {
  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<const MailboxList> snapshot;  // guarded by mu; keeps the mailboxes alive
  std::vector<uint32_t> job;                    // guarded by mu; indices into snapshot
  bool has_job = false;                         // guarded by mu
  bool stop = false;                            // guarded by mu
  std::jthread thread;

  void run(bool batch) {
    if (batch) use_batch_scheduling();
    std::vector<uint32_t> mine;
    std::shared_ptr<const MailboxList> snap;
    for (;;) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return has_job || stop; });
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

  // Inbox. Guarded by inbox_mu.
  std::mutex inbox_mu;
  std::condition_variable inbox_cv;
  FramePtr inbox;
  bool distributor_waiting = false;
  bool stopping = false;        // stop() was called or a thread died: publish() refuses
  bool stop_requested = false;  // stop() was called (it joins the threads once)
  std::string failure;          // why a thread died ("" while none did)
  uint64_t last_sequence = 0;
  uint64_t published = 0, rejected_stale = 0, inbox_overwritten = 0;

  // Subscribers. Guarded by subscribers_mu. The list is copy-on-write: the distributor takes a
  // reference to the current list and walks it without holding the lock.
  mutable std::mutex subscribers_mu;
  std::shared_ptr<const MailboxList> subscribers = std::make_shared<MailboxList>();
  FramePtr latest;  // newest distributed frame, handed to new subscribers
  bool closed = false;

  std::atomic<uint64_t> distributed{0};

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
        std::unique_lock lock(inbox_mu);
        while (!inbox && !stopping) {
          distributor_waiting = true;
          inbox_cv.wait(lock);
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
      std::lock_guard lock(subscribers_mu);
      snap = subscribers;
      previous_latest = std::exchange(latest, frame);
    }
    // Phase 1: write every mailbox. Cheap (a lock, a pointer swap), so done inline for all.
    to_wake.clear();
    const MailboxList& list = *snap;
    for (uint32_t i = 0; i < list.size(); ++i) {
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
        std::lock_guard lock(nt.mu);
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
      std::lock_guard lock(inbox_mu);
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
      std::lock_guard lock(subscribers_mu);
      closed = true;
      snap = std::exchange(subscribers, std::make_shared<MailboxList>());
      latest_left = std::move(latest);
    }
    for (const auto& m : *snap) {
      FramePtr displaced;
      m->close(displaced);
    }
  }

  void remove(const std::shared_ptr<Mailbox>& mb) {
    std::lock_guard lock(subscribers_mu);
    auto next = std::make_shared<MailboxList>();
    next->reserve(subscribers->size());
    for (const auto& m : *subscribers)
      if (m != mb) next->push_back(m);
    subscribers = std::move(next);
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
  bool wake;
  {
    std::lock_guard lock(c.inbox_mu);
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
  return true;
}

std::unique_ptr<Subscription> FrameSupplier::subscribe(std::string name, SlaClass sla) {
  Core& c = *core_;
  auto mb = std::make_shared<Mailbox>(name, sla, c.clock);
  {
    std::lock_guard lock(c.subscribers_mu);
    if (c.closed) {
      mb->closed = true;
    } else {
      auto next = std::make_shared<MailboxList>(*c.subscribers);
      next->push_back(mb);
      c.subscribers = std::move(next);
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
    std::lock_guard lock(const_cast<std::mutex&>(c.inbox_mu));
    s.published = c.published;
    s.rejected_stale = c.rejected_stale;
    s.inbox_overwritten = c.inbox_overwritten;
    s.failure = c.failure;
  }
  s.distributed = c.distributed.load(std::memory_order_relaxed);
  s.notifier_threads = c.notifiers_started.load(std::memory_order_relaxed);
  std::shared_ptr<const MailboxList> snap;
  {
    std::lock_guard lock(c.subscribers_mu);
    snap = c.subscribers;
  }
  s.subscribers.reserve(snap->size());
  for (const auto& m : *snap) s.subscribers.push_back(m->stats());
  return s;
}

size_t FrameSupplier::subscriber_count() const {
  std::lock_guard lock(core_->subscribers_mu);
  return core_->subscribers->size();
}

void FrameSupplier::stop() {
  Core& c = *core_;
  {
    std::lock_guard lock(c.inbox_mu);
    if (c.stop_requested) return;
    c.stop_requested = true;
    c.stopping = true;
  }
  c.inbox_cv.notify_one();
  if (c.distributor.joinable()) c.distributor.join();
  for (auto& n : c.notifiers) {
    {
      std::lock_guard lock(n->mu);
      n->stop = true;
    }
    n->cv.notify_one();
    if (n->thread.joinable()) n->thread.join();
  }
  FramePtr inbox_left;
  {
    std::lock_guard lock(c.inbox_mu);
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
  FramePtr displaced;
  mailbox_->close(displaced);
}

Result<FramePtr> Subscription::next_frame(Duration timeout) {
  Mailbox& mb = *mailbox_;
  std::unique_lock lock(mb.mu);
  if (timeout == Duration::max()) {
    while (!mb.frame && !mb.closed) {
      ++mb.waiters;
      mb.cv.wait(lock);
      --mb.waiters;
    }
  } else if (!mb.frame && !mb.closed) {
    // Through the supplier's clock: a FakeClock releases this wait when a test advances it.
    const Timestamp deadline = mb.clock->deadline_after(timeout);
    ++mb.waiters;
    const bool woken =
        mb.clock->wait_until(mb.cv, lock, deadline, {}, [&mb] { return mb.frame || mb.closed; });
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
  std::lock_guard lock(mb.mu);
  if (mb.closed) return make_error("closed", "subscription '" + name_ + "' is closed");
  if (!mb.frame) return make_error("empty", "no new frame for '" + name_ + "'");
  return mb.take_locked();
}

SubscriberStats Subscription::stats() const { return mailbox_->stats(); }

}  // namespace orion
