// Concurrency stress for the FrameSupplier: several publisher threads, 64 subscribers of mixed
// speed, subscribe/unsubscribe churn while frames flow, and a watchdog instead of sleeps.
// One subscriber in eight is a queue (depth 4, ADR 0090), fed by the publishers themselves.
// Checks: every subscriber sees strictly increasing sequences (never older, never twice),
// pixels match the identity, and offered = taken + dropped + pending for everyone.
// Meant to run under ThreadSanitizer as well (CI does).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "core/frame_pool.h"
#include "core/frame_supplier.h"
#include "testing/frames.h"
#include "testing/watchdog.h"

namespace orion {
namespace {

struct Outcome {
  uint64_t taken = 0;
  uint64_t order_violations = 0;
  uint64_t pixel_mismatches = 0;
  SubscriberStats stats;
};

void burn(int iterations) {
  volatile uint64_t x = 0;
  for (int i = 0; i < iterations; ++i) x = x + static_cast<uint64_t>(i);
}

// Consumes until closed; records what it saw.
Outcome consume(Subscription& sub, int work) {
  Outcome o;
  uint64_t last = 0;
  for (;;) {
    auto r = sub.next_frame(Duration::seconds(30));
    if (!r.ok()) break;  // closed (timeout would also end it and be caught by counts)
    const FramePtr& f = *r;
    const uint64_t seq = f->identity().sequence;
    if (seq <= last) ++o.order_violations;
    if (f->data()[0] != static_cast<uint8_t>(seq % 256)) ++o.pixel_mismatches;
    last = seq;
    ++o.taken;
    burn(work);
  }
  o.stats = sub.stats();
  return o;
}

TEST(FrameSupplierStress, ManyPublishersMixedSubscribersAndChurnKeepOrderAndConservation) {
  orion::testing::Watchdog watchdog(Duration::seconds(240), "frame supplier stress");
  constexpr int kPublishers = 4;
  constexpr int kSubscribers = 64;
  constexpr uint64_t kFrames = 30000;

  HeapFramePool pool;
  FrameSupplierOptions opts;
  opts.name = "stress";
  opts.sequential_threshold = 8;
  opts.notifier_threads = 3;
  FrameSupplier supplier(opts);

  std::vector<std::unique_ptr<Subscription>> subs;
  auto is_queue = [](int i) { return i % 8 == 1; };
  for (int i = 0; i < kSubscribers; ++i)
    subs.push_back(supplier.subscribe("s" + std::to_string(i),
                                      i % 4 == 0 ? SlaClass::kCritical : SlaClass::kBestEffort,
                                      is_queue(i) ? 4 : 1));

  std::vector<Outcome> outcomes(kSubscribers);
  std::vector<std::thread> consumers;
  for (int i = 0; i < kSubscribers; ++i) {
    const int work = (i % 4) * 2000;  // fast, medium, slow, slower
    consumers.emplace_back([&, i, work] { outcomes[static_cast<size_t>(i)] = consume(*subs[static_cast<size_t>(i)], work); });
  }

  // Churn: subscribers that come and go while frames flow.
  std::atomic<bool> publishing{true};
  std::atomic<uint64_t> churn_violations{0}, churn_conservation{0}, churn_rounds{0};
  std::thread churn([&] {
    while (publishing.load()) {
      auto s = supplier.subscribe("churn");
      uint64_t last = 0;
      for (int k = 0; k < 3; ++k) {
        auto r = s->next_frame(Duration::millis(50));
        if (!r.ok()) break;
        if ((*r)->identity().sequence <= last) ++churn_violations;
        last = (*r)->identity().sequence;
      }
      s->unsubscribe();
      auto st = s->stats();
      if (st.offered != st.taken + st.dropped + st.pending) ++churn_conservation;
      ++churn_rounds;
    }
  });

  // Publishers share one sequence counter, so some of their frames arrive out of order and
  // must be rejected rather than delivered.
  std::atomic<uint64_t> next_seq{1};
  std::atomic<uint64_t> accepted{0}, refused{0};
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p)
    publishers.emplace_back([&] {
      for (;;) {
        const uint64_t seq = next_seq.fetch_add(1);
        if (seq > kFrames) break;
        auto f = orion::testing::make_frame(pool, seq, SteadyClock::instance().now());
        (supplier.publish(std::move(f)) ? accepted : refused).fetch_add(1);
        if (seq % 64 == 0) std::this_thread::yield();
      }
    });
  for (auto& t : publishers) t.join();
  publishing = false;
  churn.join();

  // Conservation must hold while frames may still be in flight, too.
  for (auto& s : subs) {
    auto st = s->stats();
    EXPECT_EQ(st.offered, st.taken + st.dropped + st.pending) << st.name;
  }
  supplier.stop();
  for (auto& t : consumers) t.join();

  const SupplierStats total = supplier.stats();
  EXPECT_EQ(accepted.load() + refused.load(), kFrames);
  EXPECT_EQ(total.published, accepted.load());
  EXPECT_EQ(total.rejected_stale, refused.load());
  // Every accepted frame is distributed or overwritten in the inbox; one may be left there at stop.
  EXPECT_GE(total.published, total.distributed + total.inbox_overwritten);
  EXPECT_LE(total.published, total.distributed + total.inbox_overwritten + 1);
  uint64_t all_taken = 0;
  for (int i = 0; i < kSubscribers; ++i) {
    const Outcome& o = outcomes[static_cast<size_t>(i)];
    EXPECT_EQ(o.order_violations, 0u) << "subscriber " << i;
    EXPECT_EQ(o.pixel_mismatches, 0u) << "subscriber " << i;
    EXPECT_EQ(o.stats.taken, o.taken) << "subscriber " << i;
    EXPECT_EQ(o.stats.offered, o.stats.taken + o.stats.dropped + o.stats.pending) << "subscriber " << i;
    // Mailboxes are written by the distribution thread, queues by publish().
    EXPECT_LE(o.stats.offered, is_queue(i) ? total.published : total.distributed);
    EXPECT_GT(o.taken, 0u) << "subscriber " << i << " never got a frame";
    all_taken += o.taken;
  }
  EXPECT_EQ(churn_violations.load(), 0u);
  EXPECT_EQ(churn_conservation.load(), 0u);
  EXPECT_GT(churn_rounds.load(), 0u);
  EXPECT_GT(all_taken, 0u);
  EXPECT_EQ(pool.stats().in_use, 0u) << "frames leaked after stop";
}

}  // namespace
}  // namespace orion
