#include "engine/latency_book.h"

#include <algorithm>

namespace orion::engine {

const std::vector<double>& LatencyHistogram::bounds() {
  static const std::vector<double> b{
      0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0065, 0.008, 0.010,
      0.0125,  0.015,  0.02,    0.025, 0.03,   0.04,  0.05,  0.065, 0.08,  0.1,    0.125, 0.15,
      0.2,     0.25,   0.3,     0.4,   0.5,    0.65,  0.8,   1.0,   1.25,  1.5,    2.0,   2.5,
      3.0,     4.0,    5.0,     6.5,   8.0,    10.0,  15.0,  20.0,  30.0};
  return b;
}

void LatencyHistogram::add(Duration d) {
  if (d < Duration::zero()) d = Duration::zero();
  const double s = d.as_seconds();
  const auto& b = bounds();
  const size_t i = static_cast<size_t>(std::lower_bound(b.begin(), b.end(), s) - b.begin());
  ++counts_[i];
  ++count_;
  sum_s_ += s;
  max_ = std::max(max_, d);
}

Duration LatencyHistogram::quantile(double q) const {
  if (count_ == 0) return Duration::zero();
  const uint64_t rank = std::max<uint64_t>(
      1, std::min<uint64_t>(count_,
                            static_cast<uint64_t>(q * static_cast<double>(count_) + 0.999999)));
  uint64_t seen = 0;
  const auto& b = bounds();
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      if (i >= b.size()) return max_;
      return std::min(max_, Duration::seconds_f(b[i]));
    }
  }
  return max_;
}

void LatencyBook::frame_output(const std::string& stream, Timestamp decoded, Timestamp published,
                               Timestamp composited, Timestamp handed) {
  MutexLock lock(mu_);
  StreamLatency& s = streams_[stream];
  if (decoded.is_set() && handed.is_set()) s.output_latency.add(handed - decoded);
  if (decoded.is_set() && published.is_set()) s.decode_to_publish.add(published - decoded);
  if (published.is_set() && composited.is_set()) s.publish_to_composite.add(composited - published);
  if (composited.is_set() && handed.is_set()) s.composite_to_encoder.add(handed - composited);
}

void LatencyBook::result(const std::string& pipeline, const std::string& stream, Timestamp decoded,
                         Timestamp published, Timestamp back, Timestamp claimed_done,
                         Duration claimed_inference) {
  MutexLock lock(mu_);
  PipelineLatency& p = pipelines_[pipeline];
  p.stream = stream;
  if (!published.is_set()) published = decoded;
  p.result_latency.add(back - decoded);
  // The worker's claims, bounded by what the engine knows: the frame existed from `published`
  // on, and the result was back at `back`.
  bool clamped = false;
  Timestamp done = claimed_done;
  if (done < published || done > back) {
    done = std::clamp(done, published, back);
    clamped = true;
  }
  Duration inference = claimed_inference;
  if (inference < Duration::zero() || inference > done - published) {
    inference = std::clamp(inference, Duration::zero(), done - published);
    clamped = true;
  }
  const Timestamp start = done - inference;
  p.frame_age_at_inference.add(start - decoded);
  p.inference.add(inference);
  if (clamped) ++p.clamped;
}

void LatencyBook::result_drawn(const std::string& pipeline, Duration age) {
  MutexLock lock(mu_);
  auto it = pipelines_.find(pipeline);
  if (it != pipelines_.end()) it->second.result_age_drawn.add(age);
}

void LatencyBook::forget_stream(const std::string& stream) {
  MutexLock lock(mu_);
  streams_.erase(stream);
}

void LatencyBook::forget_pipeline(const std::string& pipeline) {
  MutexLock lock(mu_);
  pipelines_.erase(pipeline);
}

std::map<std::string, StreamLatency> LatencyBook::streams() const {
  MutexLock lock(mu_);
  return streams_;
}

std::map<std::string, PipelineLatency> LatencyBook::pipelines() const {
  MutexLock lock(mu_);
  return pipelines_;
}

}  // namespace orion::engine
