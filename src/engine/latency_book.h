// LatencyBook: the engine's per-frame latency histograms, per stream and per pipeline
// (docs/design/latency.md). Every frame is counted, none sampled; nothing is averaged: a
// histogram keeps its exact count and sum, its exact maximum and per-bucket counts, and the
// percentiles read from it are the upper bound of the bucket that holds them (never more than
// the maximum), so a p99 of "8 ms" means 99 % of the frames took at most 8 ms.
//
// Hops, from a frame's identity (stream id + sequence):
//   per stream (the compositor, engine clock, trusted):
//     decode_to_publish     decoded (appsink) → published into the supplier
//     publish_to_composite  published → overlay drawn (the compositor's wait and its drawing)
//     composite_to_encoder  overlay drawn → handed to (accepted by) the encoder
//     output_latency        decoded → handed to the encoder: the engine-added output latency
//   per pipeline (on each accepted result):
//     result_latency        decoded → result back at the engine (recv): engine-measured
//     frame_age_at_inference decoded → inference start; the start is the worker's claim
//                            (done_time − inference_time), bounded to [published, result back]
//     inference             the worker's claimed inference time, bounded to [0, result back −
//                            published]; claims outside the bounds are clamped and counted
//                            (`clamped`)
//     result_age_drawn      decoded time of the frame a drawn result was computed on → the
//                            picture it was drawn on composited; once per picture per result
//                            drawn. Decoded times are the engine's own (FrameTimeline), never
//                            the worker's claim, when the frame is still in the timeline.
//
// Thread-safety: thread-safe; one mutex (a leaf: nothing is called while it is held).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/thread_annotations.h"
#include "core/time.h"

namespace orion::engine {

class LatencyHistogram {
 public:
  // Upper bounds of the buckets, seconds (0.25 ms .. 30 s, at most 1.5× apart; 1.25× from 10 ms).
  static const std::vector<double>& bounds();

  void add(Duration d);
  uint64_t count() const { return count_; }
  double sum_seconds() const { return sum_s_; }
  Duration max() const { return max_; }
  // Per bucket, not cumulative: bounds().size() + 1 entries (the last: above every bound).
  const std::vector<uint64_t>& counts() const { return counts_; }
  // The upper bound of the bucket holding the q-quantile (nearest rank), at most max(); zero
  // when empty.
  Duration quantile(double q) const;

 private:
  std::vector<uint64_t> counts_ = std::vector<uint64_t>(bounds().size() + 1, 0);
  uint64_t count_ = 0;
  double sum_s_ = 0;
  Duration max_ = Duration::zero();
};

struct StreamLatency {
  LatencyHistogram decode_to_publish, publish_to_composite, composite_to_encoder, output_latency;
};

struct PipelineLatency {
  std::string stream;
  LatencyHistogram result_latency, frame_age_at_inference, inference, result_age_drawn;
  uint64_t clamped = 0;  // results whose claimed times were outside the engine's bounds
};

class LatencyBook {
 public:
  // One frame handed to the encoder. Unset timestamps (a frame the timeline forgot) skip the
  // hops that need them.
  void frame_output(const std::string& stream, Timestamp decoded, Timestamp published,
                    Timestamp composited, Timestamp handed);
  // One result accepted from a worker. `decoded`/`published`: the engine's own times of the
  // frame (unset: not known any more; the worker's capture time, bounded, is used instead).
  void result(const std::string& pipeline, const std::string& stream, Timestamp decoded,
              Timestamp published, Timestamp back, Timestamp claimed_done,
              Duration claimed_inference);
  void result_drawn(const std::string& pipeline, Duration age);
  void forget_stream(const std::string& stream);
  void forget_pipeline(const std::string& pipeline);

  std::map<std::string, StreamLatency> streams() const;
  std::map<std::string, PipelineLatency> pipelines() const;

 private:
  mutable Mutex mu_;
  std::map<std::string, StreamLatency> streams_ GUARDED_BY(mu_);
  std::map<std::string, PipelineLatency> pipelines_ GUARDED_BY(mu_);
};

}  // namespace orion::engine
