// What `orion up` and `orion engine` print while they run: a line when a stream or pipeline
// appears, changes state or goes (streams added through the API show their RTSP URL the moment
// they run), and every 30 s the figures of each. Also the wait for SIGINT/SIGTERM that both use.
// Thread-safety: one thread (the command's main thread).
#pragma once

#include <signal.h>

#include <map>
#include <string>

#include "engine/engine.h"

namespace orion::cli {

class NodeConsole {
 public:
  explicit NodeConsole(const engine::Engine& engine) : engine_(engine) {}
  // Prints what changed since the last call; every 30th call also the figures.
  void tick();

 private:
  const engine::Engine& engine_;
  std::map<std::string, std::string> shown_;  // last line printed per stream / pipeline
  int ticks_ = 0;
};

// Blocks SIGINT and SIGTERM in the calling thread (call before any thread starts, so every
// thread inherits the mask). Returns the set to wait on.
sigset_t block_stop_signals();
// Calls `each_second` once a second until a stop signal comes (returns it) or `duration_s`
// seconds passed (> 0; returns 0).
int run_until_stopped(const sigset_t& stop, double duration_s,
                      const std::function<void()>& each_second);

}  // namespace orion::cli
