// `orion bench ingest`: how many file streams the engine ingests in real time on this
// machine (decode → BGR into the pool → supplier → compositor → H.264 encoder → RTSP server),
// against the raw decoder limit measured in the same run, plus the engine-added latency per
// frame from frame identity (decoded → published → composited → handed to the encoder).
#pragma once

#include <string>

namespace orion::bench {

struct IngestBenchOptions {
  std::string file;            // "" = ../shared/assets/vtest_480x360.mp4 (asset lookup)
  double warmup_s = 3;         // per trial, after every stream is live
  double duration_s = 8;       // measured window per trial
  int max_streams = 256;
  double tolerance = 0.05;     // every output within 5% of the input fps
  std::string json_path;       // also write the results here
};

int run_ingest_bench(const IngestBenchOptions& options);

}  // namespace orion::bench
