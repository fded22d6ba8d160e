#include "media/live_view.h"

#include <time.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace orion::media {

LiveViewer::LiveViewer(std::shared_ptr<StreamOutput> output, size_t queue_frames)
    : output_(std::move(output)), capacity_(std::max<size_t>(2, queue_frames)) {
  sink_id_ = output_->add_encoded_sink([this](const EncodedFrame& f) { push(f); });
}

LiveViewer::~LiveViewer() {
  output_->remove_encoded_sink(sink_id_);
  close();
}

void LiveViewer::push(const EncodedFrame& f) {
  {
    MutexLock lock(mu_);
    if (closed_) return;
    if (need_keyframe_ && !f.keyframe) {
      if (received_ > 0) ++dropped_;  // before the first keyframe nothing was owed yet
      return;
    }
    if (queue_.size() >= capacity_) {
      dropped_ += queue_.size() + 1;  // the queued ones never go out, nor this one
      queue_.clear();
      need_keyframe_ = true;
      if (!f.keyframe) return;
    }
    need_keyframe_ = false;
    queue_.push_back(f);
    ++received_;
  }
  cv_.notify_one();
}

std::optional<EncodedFrame> LiveViewer::next(Duration timeout) {
  UniqueLock lock(mu_);
  const auto end = std::chrono::steady_clock::now() + timeout.to_chrono();
  while (queue_.empty() && !closed_) {
    if (cv_.wait_until(lock.native(), end) == std::cv_status::timeout) break;
  }
  if (queue_.empty() || closed_) return std::nullopt;
  EncodedFrame f = std::move(queue_.front());
  queue_.pop_front();
  return f;
}

void LiveViewer::close() {
  {
    MutexLock lock(mu_);
    closed_ = true;
    queue_.clear();
  }
  cv_.notify_all();
}

uint64_t LiveViewer::dropped() const {
  MutexLock lock(mu_);
  return dropped_;
}

uint64_t LiveViewer::received() const {
  MutexLock lock(mu_);
  return received_;
}

int64_t steady_to_unix_us(Timestamp steady) {
  timespec mono{}, real{};
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  ::clock_gettime(CLOCK_REALTIME, &real);
  const int64_t mono_ns = static_cast<int64_t>(mono.tv_sec) * 1'000'000'000 + mono.tv_nsec;
  const int64_t real_ns = static_cast<int64_t>(real.tv_sec) * 1'000'000'000 + real.tv_nsec;
  return (real_ns - (mono_ns - steady.nanos())) / 1000;
}

Result<std::vector<LiveMessage>> LiveMuxer::add(const EncodedFrame& f) {
  std::vector<LiveMessage> out;
  if (!f.annexb)
    return make_error("fmp4.empty", "stream '" + stream_ + "': an access unit without bytes");
  if (f.keyframe) {
    auto track = track_from_access_unit(*f.annexb, f.width, f.height);
    if (!track) return track.error();
    if (*track && (!track_ || !(**track == *track_))) {
      // The picture's own duration is the measured frame interval; the encoder's nominal rate
      // (its caps) is fixed when it is built, from the first frames.
      const int fps =
          f.duration > Duration::zero()
              ? static_cast<int>(std::lround(1e9 / static_cast<double>(f.duration.count_nanos())))
              : f.fps;
      auto init = fmp4_init_segment(**track);
      if (!init) return init.error();
      track_ = std::move(**track);
      const nlohmann::json msg = {{"type", "init"},           {"stream", stream_},
                                  {"codec", track_->codec()}, {"width", track_->width},
                                  {"height", track_->height}, {"fps", fps}};
      out.push_back({false, msg.dump()});
      out.push_back({true, std::move(*init)});
    }
  }
  if (!track_) {
    return make_error("fmp4.bad_track",
                      "stream '" + stream_ + "': the first keyframe carries no SPS and PPS");
  }
  if (!have_origin_) {
    origin_ = f.pts;
    have_origin_ = true;
  }
  const int64_t rel_ns = std::max<int64_t>(0, (f.pts - origin_).count_nanos());
  // 90000 / 1e9 = 9 / 100000; no overflow for 30 years of stream
  uint64_t decode_time = static_cast<uint64_t>(rel_ns) * 9 / 100000;
  if (fragments_ > 0 && decode_time <= last_decode_time_) decode_time = last_decode_time_ + 1;
  last_decode_time_ = decode_time;
  uint32_t duration = 0;
  if (f.duration > Duration::zero()) {
    duration = static_cast<uint32_t>(f.duration.count_nanos() * 9 / 100000);
  } else {
    duration = kFmp4Timescale / static_cast<uint32_t>(f.fps > 0 ? f.fps : 25);
  }
  auto segment = fmp4_media_segment(*f.annexb, ++fragments_, decode_time,
                                    std::max<uint32_t>(1, duration), f.keyframe);
  if (!segment) return segment.error();
  nlohmann::json msg = {
      {"type", "frame"},
      {"seq", f.identity ? f.identity->sequence : 0},
      {"pts_us", f.identity ? f.identity->pts.count_nanos() / 1000 : 0},
      {"capture_unix_us", f.identity ? steady_to_unix_us(f.identity->capture_time) : 0},
      {"media_time", static_cast<double>(decode_time) / kFmp4Timescale}};
  out.push_back({false, msg.dump()});
  out.push_back({true, std::move(*segment)});
  return out;
}

}  // namespace orion::media
