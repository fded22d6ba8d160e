#include "bench/supplier_bench.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/frame_pool.h"
#include "core/frame_supplier.h"
#include "testing/frames.h"

namespace orion::bench {
namespace {

constexpr int kWidth = 1280, kHeight = 720;

int64_t now_ns() { return SteadyClock::instance().now().nanos(); }

// One per (frame, subscriber) and per frame; everything in nanoseconds.
struct Samples {
  std::vector<int64_t> publish, written, wake;
};

struct Summary {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};

Summary summarize(std::vector<int64_t> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size()));
    return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1e3;
  };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = static_cast<double>(v.back()) / 1e3;
  s.n = v.size();
  return s;
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
  // Time (ns) at which every mailbox held frame `seq`, or 0 if the design reports it itself
  // at publish return.
  virtual int64_t written_at(uint64_t /*seq*/) { return 0; }
};

// ---- Orion -----------------------------------------------------------------------------------
class OrionFanout final : public Fanout {
 public:
  OrionFanout(int n, int threshold, int notifiers, int frames) : written_(static_cast<size_t>(frames) + 2) {
    FrameSupplierOptions o;
    o.name = "bench";
    o.sequential_threshold = static_cast<size_t>(threshold);
    o.notifier_threads = static_cast<size_t>(notifiers);
    o.on_mailboxes_written = [this](const FramePtr& f, Timestamp t) {
      const uint64_t s = f->identity().sequence;
      if (s < written_.size()) written_[s].store(t.nanos(), std::memory_order_release);
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

 private:
  std::vector<std::atomic<int64_t>> written_;
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
class CopyFanout final : public Fanout {
 public:
  explicit CopyFanout(int n) {
    for (int i = 0; i < n; ++i) {
      slots_.push_back(std::make_unique<Slot>());
      slots_.back()->copy.resize(static_cast<size_t>(kWidth) * kHeight * 3);
    }
  }
  void publish(const FramePtr& f) override {
    for (auto& s : slots_) {
      {
        std::lock_guard l(s->mu);
        std::memcpy(s->copy.data(), f->data(), f->size());
        s->seq = f->identity().sequence;
        s->has = true;
      }
      s->cv.notify_one();
    }
  }
  bool take(int i, uint64_t& seq) override { return take_slot(*slots_[static_cast<size_t>(i)], seq); }
  void close() override { close_slots(slots_); }

 private:
  std::vector<std::unique_ptr<Slot>> slots_;
};

// Runs `frames` frames through `fan` with `n` blocked subscribers. Each frame is published only
// after every subscriber took the previous one (frames arrive far apart, as from a camera), so
// every publish finds the subscribers asleep: the case the design is for.
Samples measure(Fanout& fan, int n, int frames, ThreadFanout* thread_fan = nullptr) {
  Samples out;
  std::vector<std::atomic<int64_t>> t_pub(static_cast<size_t>(frames) + 2);
  std::atomic<int> took{0};
  std::vector<std::vector<int64_t>> wake(static_cast<size_t>(n));
  std::vector<std::thread> subs;
  std::atomic<int> ready{0};
  for (int i = 0; i < n; ++i) {
    wake[static_cast<size_t>(i)].reserve(static_cast<size_t>(frames));
    subs.emplace_back([&, i] {
      ready.fetch_add(1);
      uint64_t seq;
      while (fan.take(i, seq)) {
        const int64_t t = now_ns();
        wake[static_cast<size_t>(i)].push_back(t - t_pub[seq].load(std::memory_order_acquire));
        took.fetch_add(1, std::memory_order_acq_rel);
      }
    });
  }
  while (ready.load() < n) std::this_thread::yield();

  HeapFramePool pool;
  std::vector<FramePtr> frames_made;
  for (int k = 1; k <= frames; ++k) {
    // Frame made before timing; its pixels are a real 1280x720 BGR buffer.
    auto f = orion::testing::make_frame(pool, static_cast<uint64_t>(k), Timestamp(), 1, kWidth, kHeight);
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // let subscribers block again
    const int64_t t0 = now_ns();
    t_pub[static_cast<size_t>(k)].store(t0, std::memory_order_release);
    fan.publish(f);
    const int64_t t1 = now_ns();
    out.publish.push_back(t1 - t0);
    const int target = k * n;
    const int64_t deadline = now_ns() + 5'000'000'000;
    while (took.load(std::memory_order_acquire) < target && now_ns() < deadline) std::this_thread::yield();
    const int64_t w = fan.written_at(static_cast<uint64_t>(k));
    out.written.push_back((w == 0 ? t1 : w) - t0);
    if (thread_fan) thread_fan->join_all();
  }
  fan.close();
  for (auto& t : subs) t.join();
  for (auto& v : wake) out.wake.insert(out.wake.end(), v.begin(), v.end());
  return out;
}

struct Row {
  int n;
  Summary orion[3], base[3][3];  // [metric], [baseline][metric]
};

const char* kMetric[3] = {"publish", "written", "wake"};
const char* kBase[3] = {"queue", "thread", "copy"};

}  // namespace

int run_supplier_bench(const SupplierBenchOptions& opt) {
  std::printf("orion bench supplier: %d frames of %dx%d BGR per case, threshold %d, %d notifier "
              "threads, %u hardware threads\n",
              opt.frames, kWidth, kHeight, opt.sequential_threshold, opt.notifier_threads,
              std::thread::hardware_concurrency());
  std::vector<Row> rows;
  for (int n : opt.subscriber_counts) {
    Row row{};
    row.n = n;
    // Fewer frames where a baseline is very slow per frame; percentiles stay meaningful.
    const int frames = n >= 256 ? std::max(50, opt.frames / 3) : opt.frames;
    const int copy_frames = n >= 64 ? std::max(30, opt.frames / 6) : frames;
    auto fill = [](Summary* dst, Samples s) {
      dst[0] = summarize(std::move(s.publish));
      dst[1] = summarize(std::move(s.written));
      dst[2] = summarize(std::move(s.wake));
    };
    { OrionFanout f(n, opt.sequential_threshold, opt.notifier_threads, frames); fill(row.orion, measure(f, n, frames)); }
    { QueueFanout f(n); fill(row.base[0], measure(f, n, frames)); }
    { ThreadFanout f(n, frames); fill(row.base[1], measure(f, n, frames, &f)); }
    { CopyFanout f(n); fill(row.base[2], measure(f, n, copy_frames)); }
    std::fprintf(stderr, "  measured %d subscribers\n", n);
    rows.push_back(row);
  }

  std::printf("\nAll times in microseconds. ratio = orion / baseline (below 1: Orion is faster).\n");
  for (int m = 0; m < 3; ++m) {
    std::printf("\n%-8s %5s | %10s %10s | ", kMetric[m], "subs", "orion p50", "orion p99");
    for (int b = 0; b < 3; ++b) std::printf("%8s p50 %8s p99  ratio99 | ", kBase[b], "");
    std::printf("\n");
    for (const Row& r : rows) {
      std::printf("%-8s %5d | %10.2f %10.2f | ", kMetric[m], r.n, r.orion[m].p50, r.orion[m].p99);
      for (int b = 0; b < 3; ++b)
        std::printf("%12.2f %12.2f %8.3f | ", r.base[b][m].p50, r.base[b][m].p99,
                    r.base[b][m].p99 > 0 ? r.orion[m].p99 / r.base[b][m].p99 : 0.0);
      std::printf("\n");
    }
  }
  // Goals from the Foundation issue.
  const Row* r1 = nullptr;
  const Row* r256 = nullptr;
  const Row* r64 = nullptr;
  for (const Row& r : rows) {
    if (r.n == 1) r1 = &r;
    if (r.n == 64) r64 = &r;
    if (r.n == 256) r256 = &r;
  }
  std::printf("\nGoals:\n");
  for (const Row& r : rows)
    std::printf("  publish p99 at %3d subscribers: %.2f us (goal <= 1 us): %s\n", r.n, r.orion[0].p99,
                r.orion[0].p99 <= 1.0 ? "met" : "missed");
  if (r1 && r256)
    std::printf("  publish p99 at 256 / at 1: %.2fx (goal <= 1.5x): %s\n", r256->orion[0].p99 / r1->orion[0].p99,
                r256->orion[0].p99 <= 1.5 * r1->orion[0].p99 ? "met" : "missed");
  if (r64)
    std::printf("  publish -> every mailbox written, 64 subscribers: p50 %.2f us, p99 %.2f us (goal <= 20 us; seed "
                "estimated 100 us): %s\n",
                r64->orion[1].p50, r64->orion[1].p99, r64->orion[1].p99 <= 20.0 ? "met" : "missed");

  if (!opt.json_path.empty()) {
    std::ofstream js(opt.json_path);
    js << "{\"rows\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      js << (i ? "," : "") << "{\"subscribers\":" << r.n;
      auto put = [&](const char* who, const Summary* s) {
        js << ",\"" << who << "\":{";
        for (int m = 0; m < 3; ++m)
          js << (m ? "," : "") << "\"" << kMetric[m] << "\":{\"p50_us\":" << s[m].p50 << ",\"p99_us\":" << s[m].p99
             << ",\"max_us\":" << s[m].max << ",\"n\":" << s[m].n << "}";
        js << "}";
      };
      put("orion", r.orion);
      for (int b = 0; b < 3; ++b) put(kBase[b], r.base[b]);
      js << "}";
    }
    js << "]}\n";
  }
  return 0;
}

}  // namespace orion::bench
