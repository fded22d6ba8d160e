// engine_snapshot: the figures of one running engine as a metrics::Snapshot, for /metrics in
// the process that runs the engine (`orion up`, `orion engine`'s media endpoint). Every number
// is the engine's own counter at the moment of the call (Engine::report, Engine::pipelines);
// fps_in is the StatusReporter's last measure. Thread-safety: as the Engine's accessors.
#pragma once

#include <map>
#include <string>

#include "engine/engine.h"
#include "metrics/metrics.h"

namespace orion::control {

metrics::Snapshot engine_snapshot(const engine::Engine& engine, const std::string& engine_id,
                                  const std::map<std::string, double>& fps_in);

}  // namespace orion::control
