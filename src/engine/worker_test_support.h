// Test support shared by the engine tests that run real `orion worker` processes: engine
// options tuned for fast heartbeats and restarts, pipeline lookup, and a polling wait.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "testing/wait.h"

namespace orion::engine::testing {

// Polls `cond` every 10 ms until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  return orion::testing::wait_until(cond, Duration::from(limit), Duration::millis(10));
}

// Loopback RTSP on a free port, workers from `worker_binary`, heartbeats every 100 ms (hung
// after 1 s), restarts after 100 ms: short enough for tests that kill workers.
inline EngineOptions worker_engine_options(const std::string& worker_binary, size_t max_frame_bytes) {
  EngineOptions o;
  o.rtsp_port = 0;
  o.rtsp_address = "127.0.0.1";
  o.worker_executable = worker_binary;
  o.max_frame_bytes = max_frame_bytes;
  o.supervisor.heartbeat_interval = Duration::millis(100);
  o.supervisor.heartbeat_timeout = Duration::seconds(1);
  o.supervisor.backoff_initial = Duration::millis(100);
  return o;
}

inline std::optional<PipelineStats> find_pipeline(const Engine& e, const std::string& name) {
  for (const auto& p : e.pipelines())
    if (p.name == name) return p;
  return std::nullopt;
}

}  // namespace orion::engine::testing
