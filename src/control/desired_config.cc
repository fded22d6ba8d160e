#include "control/desired_config.h"

#include <nlohmann/json.hpp>

namespace orion::control {

namespace {

using nlohmann::json;

// motion_gate_json as api/resources.cc writes it: {"enabled": bool, and optionally min_motion,
// analysis_width, history, max_skipped_in_row}. Returns "" or what is wrong.
std::string read_motion_gate(const std::string& text, infer::MotionGateConfig& g) {
  if (text.empty()) return "";
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return "motion_gate: not a JSON object";
  g.enabled = true;
  if (auto it = j.find("enabled"); it != j.end()) {
    if (!it->is_boolean()) return "motion_gate.enabled: not a bool";
    g.enabled = it->get<bool>();
  }
  if (auto it = j.find("min_motion"); it != j.end()) {
    if (!it->is_number()) return "motion_gate.min_motion: not a number";
    g.min_motion_fraction = it->get<double>();
  }
  for (auto [key, field] :
       {std::pair{"analysis_width", &g.analysis_width}, std::pair{"history", &g.history},
        std::pair{"max_skipped_in_row", &g.max_skipped_in_row}}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_number_integer()) return std::string("motion_gate.") + key + ": not an integer";
    *field = it->get<int>();
  }
  return "";
}

}  // namespace

DesiredConfig to_engine_config(const std::vector<store::StreamRecord>& streams,
                               const std::vector<store::ModelRecord>& models,
                               const std::vector<store::PipelineRecord>& pipelines) {
  DesiredConfig out;
  out.config.source = "database";
  for (const auto& r : streams) {
    engine::StreamConfig s;
    s.name = r.name;
    s.url = r.url;
    s.loop = r.loop;
    s.enabled = r.enabled;
    s.tls_verify = r.tls_verify;
    s.stall_timeout = Duration::millis(r.stall_timeout_ms);
    out.config.streams.push_back(std::move(s));
  }
  for (const auto& r : models) {
    engine::ModelConfig m;
    m.name = r.name;
    m.kind = r.kind;
    m.path = r.path;
    m.input_width = r.input_width;
    m.input_height = r.input_height;
    m.class_names_inline = r.class_names;
    m.threads = r.threads;
    m.device = r.device;
    out.config.models.push_back(std::move(m));
  }
  for (const auto& r : pipelines) {
    engine::PipelineConfig p;
    p.name = r.name;
    p.stream = r.stream;
    p.model = r.model;
    auto sla = parse_sla(r.sla);
    if (!sla) {
      out.errors.push_back("pipeline '" + r.name + "': sla: " + sla.error().message);
      continue;
    }
    p.sla = *sla;
    p.min_score = static_cast<float>(r.min_score);
    p.iou = static_cast<float>(r.iou);
    p.classes = r.classes;
    p.enabled = r.enabled;
    p.worker = r.worker_command;
    if (std::string e = read_motion_gate(r.motion_gate_json, p.motion_gate); !e.empty()) {
      out.errors.push_back("pipeline '" + r.name + "': " + e);
      continue;
    }
    out.config.pipelines.push_back(std::move(p));
  }
  return out;
}

}  // namespace orion::control
