#include "gpu/batch_collector.h"

#include <algorithm>
#include <cassert>

namespace orion::gpu {

BatchCollector::BatchCollector(int streams, const Clock& clock)
    : clock_(clock), streams_(std::max(streams, 1)), slots_(static_cast<size_t>(streams_)) {
  assert(streams >= 1);
}

bool BatchCollector::submit(int stream, FramePtr frame) {
  assert(stream >= 0 && stream < streams());
  FramePtr old;  // released outside the lock
  {
    MutexLock lock(mu_);
    if (stopped_) return false;
    Slot& s = slots_[static_cast<size_t>(stream)];
    ++stats_.submitted;
    if (s.frame) ++stats_.dropped;
    old = std::move(s.frame);
    s.frame = std::move(frame);
    s.arrived = clock_.now();
  }
  cv_.notify_all();
  return true;
}

int BatchCollector::pending_locked() const {
  int n = 0;
  for (const Slot& s : slots_) n += s.frame ? 1 : 0;
  return n;
}

Timestamp BatchCollector::oldest_locked() const {
  Timestamp t = Clock::kNever;
  for (const Slot& s : slots_) {
    if (s.frame && s.arrived < t) t = s.arrived;
  }
  return t;
}

std::vector<BatchItem> BatchCollector::collect(int max_batch, Duration max_wait) {
  max_batch = std::max(max_batch, 1);
  std::vector<BatchItem> batch;
  UniqueLock lock(mu_);
  const std::stop_token none;
  clock_.wait_until(cv_, lock, Clock::kNever, none,
                    [&]() NO_THREAD_SAFETY_ANALYSIS { return stopped_ || pending_locked() > 0; });
  if (stopped_) return batch;
  const int want = std::min(static_cast<int>(slots_.size()), max_batch);
  const Timestamp deadline = oldest_locked() + max_wait;
  clock_.wait_until(cv_, lock, deadline, none, [&]() NO_THREAD_SAFETY_ANALYSIS {
    return stopped_ || pending_locked() >= want;
  });
  if (stopped_) return batch;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].frame) batch.push_back({static_cast<int>(i), slots_[i].frame, slots_[i].arrived});
  }
  if (static_cast<int>(batch.size()) > max_batch) {
    std::stable_sort(batch.begin(), batch.end(),
                     [](const BatchItem& a, const BatchItem& b) { return a.arrived < b.arrived; });
    batch.resize(static_cast<size_t>(max_batch));
    std::sort(batch.begin(), batch.end(),
              [](const BatchItem& a, const BatchItem& b) { return a.stream < b.stream; });
  }
  for (const BatchItem& it : batch) slots_[static_cast<size_t>(it.stream)].frame.reset();
  stats_.taken += batch.size();
  ++stats_.batches;
  return batch;
}

void BatchCollector::stop() {
  {
    MutexLock lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

CollectorStats BatchCollector::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

}  // namespace orion::gpu
