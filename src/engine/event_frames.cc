#include "engine/event_frames.h"

#include <spdlog/spdlog.h>

#include "core/thread.h"
#include "media/jpeg.h"

namespace orion::engine {

EventFrames::EventFrames(EventFramesOptions options) : options_(options) {}

EventFrames::~EventFrames() { stop(); }

void EventFrames::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run_guarded("orion-evframes", [this] { run(); }); });
}

void EventFrames::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventFrames::offer(const std::string& stream, media::SnapshotPicture picture) {
  std::optional<Job> refused;  // its picture goes back to the pool after the lock
  {
    MutexLock lock(mu_);
    if (stopping_ || jobs_.size() >= options_.queue) {
      ++stats_.dropped;
      refused = Job{stream, std::move(picture)};
    } else {
      jobs_.push_back(Job{stream, std::move(picture)});
    }
  }
  cv_.notify_all();
}

void EventFrames::count_missed() {
  MutexLock lock(mu_);
  ++stats_.missed;
}

bool EventFrames::has(const std::string& stream, uint64_t sequence) const {
  MutexLock lock(mu_);
  for (const auto& j : jobs_) {
    if (j.stream == stream && j.picture.picture->identity().sequence == sequence) return true;
  }
  auto it = frames_.find(stream);
  return it != frames_.end() && it->second.count(sequence) > 0;
}

std::optional<std::string> EventFrames::get(const std::string& stream, uint64_t sequence) const {
  std::shared_ptr<const std::string> jpeg;
  {
    MutexLock lock(mu_);
    auto it = frames_.find(stream);
    if (it == frames_.end()) return std::nullopt;
    auto f = it->second.find(sequence);
    if (f == it->second.end()) return std::nullopt;
    jpeg = f->second;
  }
  return *jpeg;
}

void EventFrames::forget(const std::string& stream) {
  MutexLock lock(mu_);
  frames_.erase(stream);
}

void EventFrames::drain() const {
  UniqueLock lock(mu_);
  cv_.wait(lock.native(),
           [this]() REQUIRES(mu_) { return (jobs_.empty() && !busy_) || stopping_; });
}

EventFramesStats EventFrames::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

void EventFrames::run() {
  for (;;) {
    Job job;
    {
      UniqueLock lock(mu_);
      cv_.wait(lock.native(), [this]() REQUIRES(mu_) { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      busy_ = true;
    }
    auto jpeg = media::encode_jpeg(job.picture.view(), options_.jpeg_quality);
    const uint64_t seq = job.picture.picture->identity().sequence;
    job.picture.picture.reset();  // back to the compositor's pool, outside the lock
    {
      MutexLock lock(mu_);
      busy_ = false;
      if (jpeg) {
        auto& held = frames_[job.stream];
        held[seq] = std::make_shared<const std::string>(std::move(*jpeg));
        while (held.size() > options_.per_stream) held.erase(held.begin());
        ++stats_.encoded;
      }
    }
    if (!jpeg)
      spdlog::warn("event frame {} of '{}': {}", seq, job.stream, jpeg.error().to_string());
    cv_.notify_all();
  }
}

}  // namespace orion::engine
