#include "bench/supplier_bench.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/percentiles.h"
#include "core/clock.h"
#include "core/frame_pool.h"
#include "core/frame_supplier.h"
#include "testing/frames.h"

namespace orion::bench {
namespace {

constexpr int kWidth = 1280, kHeight = 720;

int64_t now_ns() { return SteadyClock::instance().now().nanos(); }

// CPU time consumed by the calling thread: what a call costs its caller, without the time the
// thread spent preempted by others (on 2 cores, the threads a publish wakes often preempt it).
int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Median cost of reading the thread CPU clock twice, subtracted from CPU-time samples.
int64_t thread_cpu_overhead() {
  std::vector<int64_t> v;
  for (int i = 0; i < 1001; ++i) {
    const int64_t a = thread_cpu_ns();
    v.push_back(thread_cpu_ns() - a);
  }
  std::nth_element(v.begin(), v.begin() + 500, v.end());
  return v[500];
}

// What every design under test offers the harness.
class Fanout {
 public:
  virtual ~Fanout() = default;
  virtual void publish(const FramePtr& f) = 0;
  // Blocks until subscriber i holds a new frame; false once closed. Writes the frame's
  // sequence and the time the subscriber got it.
  virtual bool take(int i, uint64_t& seq) = 0;
  virtual void close() = 0;
  // Time (ns) at which every mailbox held frame `seq`, or 0 when that is when publish returned.
  virtual int64_t written_at(uint64_t /*seq*/) { return 0; }
  // Time (ns) at which the writing of mailboxes for `seq` began, or 0 when publish began it.
  virtual int64_t distribution_started_at(uint64_t /*seq*/) { return 0; }
  // Joins helper threads between frames (thread-per-frame baseline), outside timed regions.
  virtual void settle() {}
};

// ---- Orion -----------------------------------------------------------------------------------
class OrionFanout final : public Fanout {
 public:
  OrionFanout(int n, int threshold, int notifiers, int frames)
      : written_(static_cast<size_t>(frames) + 2), started_(static_cast<size_t>(frames) + 2) {
    FrameSupplierOptions o;
    o.name = "bench";
    o.sequential_threshold = static_cast<size_t>(threshold);
    o.notifier_threads = static_cast<size_t>(notifiers);
    o.on_mailboxes_written = [this](const FramePtr& f, Timestamp started, Timestamp t) {
      const uint64_t s = f->identity().sequence;
      if (s >= written_.size()) return;
      started_[s].store(started.nanos(), std::memory_order_relaxed);
      written_[s].store(t.nanos(), std::memory_order_release);
    };
    supplier_ = std::make_unique<FrameSupplier>(std::move(o));
    for (int i = 0; i < n; ++i) subs_.push_back(supplier_->subscribe("b" + std::to_string(i)));
  }
  void publish(const FramePtr& f) override { supplier_->publish(f); }
  bool take(int i, uint64_t& seq) override {
    auto r = subs_[static_cast<size_t>(i)]->next_frame();
    if (!r.ok()) return false;
    seq = (*r)->identity().sequence;
    return true;
  }
  void close() override { supplier_->stop(); }
  int64_t written_at(uint64_t seq) override {
    for (;;) {  // the callback runs before any wake, so this never spins long
      int64_t t = written_[seq].load(std::memory_order_acquire);
      if (t != 0) return t;
      std::this_thread::yield();
    }
  }
  int64_t distribution_started_at(uint64_t seq) override {
    written_at(seq);
    return started_[seq].load(std::memory_order_relaxed);
  }

 private:
  std::vector<std::atomic<int64_t>> written_, started_;
  std::unique_ptr<FrameSupplier> supplier_;
  std::vector<std::unique_ptr<Subscription>> subs_;
};

// ---- Baseline 1: bounded queue per subscriber, try-push-or-drop --------------------------------
class QueueFanout final : public Fanout {
 public:
  explicit QueueFanout(int n, size_t capacity = 4) : capacity_(capacity) {
    for (int i = 0; i < n; ++i) q_.push_back(std::make_unique<Q>());
  }
  void publish(const FramePtr& f) override {
    for (auto& q : q_) {
      {
        std::lock_guard l(q->mu);
        if (q->items.size() >= capacity_) continue;  // full: drop for this subscriber
        q->items.push_back(f);
      }
      q->cv.notify_one();
    }
  }
  bool take(int i, uint64_t& seq) override {
    Q& q = *q_[static_cast<size_t>(i)];
    std::unique_lock l(q.mu);
    q.cv.wait(l, [&] { return !q.items.empty() || q.closed; });
    if (q.items.empty()) return false;
    seq = q.items.front()->identity().sequence;
    q.items.pop_front();
    return true;
  }
  void close() override {
    for (auto& q : q_) {
      { std::lock_guard l(q->mu); q->closed = true; }
      q->cv.notify_all();
    }
  }

 private:
  struct Q {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<FramePtr> items;
    bool closed = false;
  };
  size_t capacity_;
  std::vector<std::unique_ptr<Q>> q_;
};

// A plain single-slot mailbox used by the thread-per-frame and deep-copy baselines.
struct Slot {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t seq = 0;
  bool has = false, closed = false;
  std::vector<uint8_t> copy;  // deep-copy baseline only
};

bool take_slot(Slot& s, uint64_t& seq) {
  std::unique_lock l(s.mu);
  s.cv.wait(l, [&] { return s.has || s.closed; });
  if (!s.has) return false;
  seq = s.seq;
  s.has = false;
  return true;
}

void close_slots(std::vector<std::unique_ptr<Slot>>& slots) {
  for (auto& s : slots) {
    { std::lock_guard l(s->mu); s->closed = true; }
    s->cv.notify_all();
  }
}

// ---- Baseline 2: a thread started per subscriber per frame -------------------------------------
class ThreadFanout final : public Fanout {
 public:
  ThreadFanout(int n, int frames) : written_(static_cast<size_t>(frames) + 2) {
    for (int i = 0; i < n; ++i) slots_.push_back(std::make_unique<Slot>());
  }
  ~ThreadFanout() override { join_all(); }
  void publish(const FramePtr& f) override {
    const uint64_t seq = f->identity().sequence;
    for (auto& sp : slots_) {
      Slot* s = sp.get();
      threads_.emplace_back([this, s, f, seq] {
        { std::lock_guard l(s->mu); s->seq = seq; s->has = true; }
        // The last writer records "every mailbox written".
        int64_t t = now_ns();
        int64_t prev = written_[seq].load();
        while (t > prev && !written_[seq].compare_exchange_weak(prev, t)) {}
        s->cv.notify_one();
      });
    }
  }
  bool take(int i, uint64_t& seq) override { return take_slot(*slots_[static_cast<size_t>(i)], seq); }
  void close() override { join_all(); close_slots(slots_); }
  int64_t written_at(uint64_t seq) override { return written_[seq].load(); }
  void settle() override { join_all(); }
  void join_all() {
    for (auto& t : threads_) if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  std::vector<std::atomic<int64_t>> written_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;  // joined between frames, outside the timed region
};

// ---- Baseline 3: deep copy of the frame into every subscriber's mailbox -------------------------
// With copy=false this is the seed's first design instead: the publisher itself walks every
// mailbox (no inbox, no distribution thread) and signals it. Reported as "direct".
class CopyFanout final : public Fanout {
 public:
  CopyFanout(int n, bool copy) : copy_(copy) {
    for (int i = 0; i < n; ++i) {
      slots_.push_back(std::make_unique<Slot>());
      if (copy_) slots_.back()->copy.resize(static_cast<size_t>(kWidth) * kHeight * 3);
    }
  }
  void publish(const FramePtr& f) override {
    for (auto& s : slots_) {
      {
        std::lock_guard l(s->mu);
        if (copy_) std::memcpy(s->copy.data(), f->data(), f->size());
        s->seq = f->identity().sequence;
        s->has = true;
      }
      s->cv.notify_one();
    }
  }
  bool take(int i, uint64_t& seq) override { return take_slot(*slots_[static_cast<size_t>(i)], seq); }
  void close() override { close_slots(slots_); }

 private:
  bool copy_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

// Samples: per frame (publish, written, distribution) and per frame × subscriber (wake).
struct Samples {
  std::vector<int64_t> publish, publish_cpu, written, distribution, wake;
};

// Paced: each frame is published only once every subscriber took the previous one and had
// time to block again (frames arrive far apart, as from a camera), so every publish finds the
// subscribers asleep: the case the design is for. The harness itself blocks (no spinning) so
// that it does not take a core from the design under test.
Samples measure_paced(Fanout& fan, int n, int frames) {
  Samples out;
  std::vector<std::atomic<int64_t>> t_pub(static_cast<size_t>(frames) + 2);
  std::atomic<int> took{0};
  std::atomic<int> target{0};
  std::vector<std::vector<int64_t>> wake(static_cast<size_t>(n));
  std::vector<std::thread> subs;
  for (int i = 0; i < n; ++i) {
    wake[static_cast<size_t>(i)].reserve(static_cast<size_t>(frames));
    subs.emplace_back([&, i] {
      uint64_t seq;
      while (fan.take(i, seq)) {
        const int64_t t = now_ns();
        wake[static_cast<size_t>(i)].push_back(t - t_pub[seq].load(std::memory_order_acquire));
        if (took.fetch_add(1, std::memory_order_acq_rel) + 1 == target.load(std::memory_order_acquire))
          took.notify_all();
      }
    });
  }
  // Time for every subscriber to block again between frames, scaled with their number.
  const auto pause = std::chrono::microseconds(300 + 15 * n);
  const int64_t cpu_overhead = thread_cpu_overhead();
  HeapFramePool pool;
  for (int k = 1; k <= frames; ++k) {
    auto f = orion::testing::make_frame(pool, static_cast<uint64_t>(k), Timestamp(), 1, kWidth, kHeight);
    target.store(k * n, std::memory_order_release);
    std::this_thread::sleep_for(pause);
    const int64_t c0 = thread_cpu_ns();
    const int64_t t0 = now_ns();
    t_pub[static_cast<size_t>(k)].store(t0, std::memory_order_release);
    fan.publish(f);
    const int64_t t1 = now_ns();
    const int64_t c1 = thread_cpu_ns();
    out.publish.push_back(t1 - t0);
    out.publish_cpu.push_back(std::max<int64_t>(0, c1 - c0 - cpu_overhead));
    for (int seen = took.load(std::memory_order_acquire); seen < k * n; seen = took.load(std::memory_order_acquire))
      took.wait(seen, std::memory_order_acquire);
    const int64_t w = fan.written_at(static_cast<uint64_t>(k));
    const int64_t d = fan.distribution_started_at(static_cast<uint64_t>(k));
    out.written.push_back((w == 0 ? t1 : w) - t0);
    out.distribution.push_back((w == 0 ? t1 : w) - (d == 0 ? t0 : d));
    fan.settle();
  }
  fan.close();
  for (auto& t : subs) t.join();
  for (auto& v : wake) out.wake.insert(out.wake.end(), v.begin(), v.end());
  return out;
}

// Burst: frames published back to back, as fast as the producer can, while subscribers take
// what they can. Only the publish cost is recorded.
std::vector<int64_t> measure_burst(Fanout& fan, int n, int frames) {
  std::vector<std::thread> subs;
  for (int i = 0; i < n; ++i)
    subs.emplace_back([&, i] {
      uint64_t seq;
      while (fan.take(i, seq)) {
      }
    });
  HeapFramePool pool;
  std::vector<FramePtr> made;
  for (int k = 1; k <= frames; ++k)
    made.push_back(orion::testing::make_frame(pool, static_cast<uint64_t>(k), Timestamp(), 1, 64, 64));
  std::vector<int64_t> cost;
  for (int k = 1; k <= frames; ++k) {
    const int64_t t0 = now_ns();
    fan.publish(made[static_cast<size_t>(k - 1)]);
    cost.push_back(now_ns() - t0);
    fan.settle();
  }
  fan.close();
  for (auto& t : subs) t.join();
  return cost;
}

// The floor for any design that hands a frame to a sleeping thread: one condition-variable
// notify (cost on the notifier) and the time until the woken thread runs.
Samples measure_bare_wake(int frames) {
  Samples out;
  std::mutex mu;
  std::condition_variable cv;
  int64_t posted = 0;
  bool has = false, stop = false;
  std::atomic<int> took{0};
  std::thread t([&] {
    std::unique_lock l(mu);
    for (;;) {
      cv.wait(l, [&] { return has || stop; });
      if (stop) return;
      has = false;
      out.wake.push_back(now_ns() - posted);
      took.fetch_add(1);
      took.notify_all();
    }
  });
  for (int k = 1; k <= frames; ++k) {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    const int64_t t0 = now_ns();
    {
      std::lock_guard l(mu);
      posted = t0;
      has = true;
    }
    cv.notify_one();
    out.publish.push_back(now_ns() - t0);
    for (int seen = took.load(); seen < k; seen = took.load()) took.wait(seen);
  }
  {
    std::lock_guard l(mu);
    stop = true;
  }
  cv.notify_one();
  t.join();
  return out;
}

constexpr int kMetrics = 6;
constexpr int kDesigns = 5;  // orion first, then the baselines
const char* kMetric[kMetrics] = {"publish", "burst", "written", "distrib", "wake", "pub-cpu"};
const char* kMetricText[kMetrics] = {
    "publish(): wall time on the producer thread, subscribers asleep (paced frames)",
    "publish(): cost on the producer thread, frames back to back (no pacing)",
    "publish -> every subscriber's mailbox holds the frame",
    "distribution proper: first mailbox write begins -> last one done",
    "publish -> a blocked subscriber is running with the frame (all subscribers x frames)",
    "publish(): CPU time of the producer thread (paced frames; preemption excluded)"};
const char* kDesign[kDesigns] = {"orion", "queue", "thread", "copy", "direct"};

struct Row {
  int n = 0;
  Summary m[kDesigns][kMetrics];
};

std::unique_ptr<Fanout> make_design(int d, int n, int frames, const SupplierBenchOptions& opt) {
  switch (d) {
    case 0: return std::make_unique<OrionFanout>(n, opt.sequential_threshold, opt.notifier_threads, frames);
    case 1: return std::make_unique<QueueFanout>(n);
    case 2: return std::make_unique<ThreadFanout>(n, frames);
    case 3: return std::make_unique<CopyFanout>(n, /*copy=*/true);
    default: return std::make_unique<CopyFanout>(n, /*copy=*/false);
  }
}

}  // namespace

int run_supplier_bench(const SupplierBenchOptions& opt) {
  std::printf("orion bench supplier: %d frames of %dx%d BGR per case, threshold %d, %d notifier "
              "threads, %u hardware threads\n",
              opt.frames, kWidth, kHeight, opt.sequential_threshold, opt.notifier_threads,
              std::thread::hardware_concurrency());
  std::printf("designs: orion = FrameSupplier (inbox + distribution thread + mailboxes)\n"
              "         queue = bounded queue (4) per subscriber, try-push-or-drop, by the publisher\n"
              "         thread = a thread started per subscriber per frame, writing its mailbox\n"
              "         copy = the publisher deep-copies the frame into every mailbox\n"
              "         direct = the publisher writes every mailbox itself (seed's first design)\n");
  const Samples floor = measure_bare_wake(std::max(100, opt.frames));
  const Summary floor_notify = summarize(floor.publish), floor_wake = summarize(floor.wake);

  std::vector<Row> rows;
  for (int n : opt.subscriber_counts) {
    Row row;
    row.n = n;
    for (int d = 0; d < kDesigns; ++d) {
      // Fewer frames where a design is very slow per frame; percentiles stay meaningful.
      int frames = n >= 256 ? std::max(60, opt.frames / 3) : opt.frames;
      if ((d == 2 || d == 3) && n >= 64) frames = std::max(40, opt.frames / 6);
      {
        auto fan = make_design(d, n, frames, opt);
        Samples s = measure_paced(*fan, n, frames);
        row.m[d][0] = summarize(std::move(s.publish));
        row.m[d][2] = summarize(std::move(s.written));
        row.m[d][3] = summarize(std::move(s.distribution));
        row.m[d][4] = summarize(std::move(s.wake));
        row.m[d][5] = summarize(std::move(s.publish_cpu));
      }
      {
        const int burst_frames = (d == 2 || d == 3) ? frames : 10 * frames;
        auto fan = make_design(d, n, burst_frames, opt);
        row.m[d][1] = summarize(measure_burst(*fan, n, burst_frames));
      }
    }
    std::fprintf(stderr, "  measured %d subscribers\n", n);
    rows.push_back(row);
  }

  std::printf("\nFloor on this machine (one condition-variable hand-off to a sleeping thread):\n"
              "  notify cost p50 %.2f us p99 %.2f us; notify -> woken thread running p50 %.2f us p99 %.2f us\n",
              floor_notify.p50, floor_notify.p99, floor_wake.p50, floor_wake.p99);
  std::printf("\nAll times in microseconds; p50 / p99 per design; x = orion p99 / that design's p99 "
              "(below 1: Orion is faster).\n");
  for (int m = 0; m < kMetrics; ++m) {
    std::printf("\n[%s] %s\n%5s | %19s |", kMetric[m], kMetricText[m], "subs", "orion p50 / p99");
    for (int d = 1; d < kDesigns; ++d) std::printf(" %27s |", (std::string(kDesign[d]) + " p50 / p99 (x)").c_str());
    std::printf("\n");
    for (const Row& r : rows) {
      std::printf("%5d | %8.2f / %8.2f |", r.n, r.m[0][m].p50, r.m[0][m].p99);
      for (int d = 1; d < kDesigns; ++d)
        std::printf(" %8.2f / %8.2f (%6.3f) |", r.m[d][m].p50, r.m[d][m].p99,
                    r.m[d][m].p99 > 0 ? r.m[0][m].p99 / r.m[d][m].p99 : 0.0);
      std::printf("\n");
    }
  }

  const Row* r1 = nullptr;
  const Row* r64 = nullptr;
  const Row* r256 = nullptr;
  for (const Row& r : rows) {
    if (r.n == 1) r1 = &r;
    if (r.n == 64) r64 = &r;
    if (r.n == 256) r256 = &r;
  }
  std::printf("\nGoals (Foundation issue):\n");
  for (const Row& r : rows)
    std::printf("  publish p99 at %3d subscribers: paced wall %.2f us, paced cpu %.2f us, burst %.2f us "
                "(goal <= 1 us; floor: one notify p50 %.2f / p99 %.2f us)\n",
                r.n, r.m[0][0].p99, r.m[0][5].p99, r.m[0][1].p99, floor_notify.p50, floor_notify.p99);
  if (r1 && r256)
    std::printf("  publish p99 at 256 / at 1: paced wall %.2fx, paced cpu %.2fx, burst %.2fx (goal <= 1.5x)\n",
                r256->m[0][0].p99 / r1->m[0][0].p99, r256->m[0][5].p99 / r1->m[0][5].p99,
                r256->m[0][1].p99 / r1->m[0][1].p99);
  if (r64)
    std::printf("  64 subscribers: publish -> all written p50 %.2f / p99 %.2f us; distribution proper "
                "p50 %.2f / p99 %.2f us (goal <= 20 us; the seed estimated 100 us)\n",
                r64->m[0][2].p50, r64->m[0][2].p99, r64->m[0][3].p50, r64->m[0][3].p99);

  if (!opt.json_path.empty()) {
    std::ofstream js(opt.json_path);
    js << "{\"floor\":{\"notify_p50_us\":" << floor_notify.p50 << ",\"notify_p99_us\":" << floor_notify.p99
       << ",\"wake_p50_us\":" << floor_wake.p50 << ",\"wake_p99_us\":" << floor_wake.p99 << "},\"rows\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      js << (i ? "," : "") << "{\"subscribers\":" << r.n;
      for (int d = 0; d < kDesigns; ++d) {
        js << ",\"" << kDesign[d] << "\":{";
        for (int m = 0; m < kMetrics; ++m)
          js << (m ? "," : "") << "\"" << kMetric[m] << "\":{\"p50_us\":" << r.m[d][m].p50
             << ",\"p99_us\":" << r.m[d][m].p99 << ",\"max_us\":" << r.m[d][m].max << ",\"n\":" << r.m[d][m].n
             << "}";
        js << "}";
      }
      js << "}";
    }
    js << "]}\n";
  }
  return 0;
}

}  // namespace orion::bench
