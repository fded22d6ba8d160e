#include "core/result_store.h"

namespace orion {

bool ResultStore::put(DetectionResult result) {
  MutexLock lock(mu_);
  auto key = std::make_pair(result.frame.stream, result.pipeline);
  auto it = newest_.find(key);
  if (it != newest_.end() && it->second.frame.sequence > result.frame.sequence) return false;
  ++puts_;
  newest_[key] = std::move(result);
  return true;
}

std::vector<DetectionResult> ResultStore::latest(StreamId stream) const {
  MutexLock lock(mu_);
  std::vector<DetectionResult> out;
  for (auto it = newest_.lower_bound({stream, std::string()}); it != newest_.end() && it->first.first == stream; ++it)
    out.push_back(it->second);
  return out;
}

void ResultStore::clear_pipeline(const std::string& pipeline) {
  MutexLock lock(mu_);
  for (auto it = newest_.begin(); it != newest_.end();) {
    if (it->first.second == pipeline) it = newest_.erase(it);
    else ++it;
  }
}

uint64_t ResultStore::puts() const {
  MutexLock lock(mu_);
  return puts_;
}

}  // namespace orion
