// DesiredConfig: the desired state as the database holds it (store records, written by the API
// or the YAML import, already validated by api/resources.h) turned into the engine::Config that
// Engine::apply() runs. Pure conversion; the one place that knows both shapes.
//
// Mapping: stream records one to one; a model's class_names list goes inline to its workers;
// a pipeline's sla text is parsed, motion_gate_json ("" = off) parsed into the gate's settings,
// worker_command kept as given. A record the conversion cannot read (a stored value no
// validator lets through, e.g. written by a newer version) makes only that record fail: it is
// left out of the Config and named in `errors`, so one bad row never stops the others.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "engine/config.h"
#include "store/store.h"

namespace orion::control {

struct DesiredConfig {
  engine::Config config;
  std::vector<std::string> errors;  // "pipeline 'x': motion_gate: ..." per record left out
};

DesiredConfig to_engine_config(const std::vector<store::StreamRecord>& streams,
                               const std::vector<store::ModelRecord>& models,
                               const std::vector<store::PipelineRecord>& pipelines);

}  // namespace orion::control
