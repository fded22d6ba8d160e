// `orion bench live`: the engine's extra CPU per live-view viewer. One stream (a test pattern
// at --width x --height, 25 fps) runs in an Engine with its media endpoint; for each viewer
// count (0 first: the baseline, in the same run) that many WebSocket clients read the live
// view (every message) for --seconds. The engine's CPU = the process's CPU minus the viewer
// client threads' own (CLOCK_THREAD_CPUTIME_ID); extra per viewer = (cpu(N) - cpu(0)) / N.
// Also reports frames received per viewer, frames dropped, and the encoder count (must stay 1).
#pragma once

#include <string>
#include <vector>

namespace orion::bench {

struct LiveBenchOptions {
  std::vector<int> viewers = {1, 4, 16};
  double seconds = 6;
  double warmup_s = 2;
  int width = 1280;
  int height = 720;
  std::string json_path;
};

int run_live_bench(const LiveBenchOptions& options);

}  // namespace orion::bench
