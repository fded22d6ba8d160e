#include "engine/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "core/device.h"

namespace orion::engine {

namespace {

constexpr std::array<const char*, 3> kTopLevelKeys = {"streams", "models", "pipelines"};
constexpr std::array<const char*, 6> kStreamKeys = {"name",    "url",        "loop",
                                                    "enabled", "tls_verify", "stall_timeout_s"};
constexpr std::array<const char*, 9> kModelKeys = {"name",        "kind",          "path",
                                                   "input_width", "input_height",  "class_names",
                                                   "threads",     "fake_delay_ms", "device"};
constexpr std::array<const char*, 9> kPipelineKeys = {
    "name", "stream", "model", "sla", "min_score", "classes", "enabled", "motion_gate", "worker"};
constexpr std::array<const char*, 5> kMotionGateKeys = {"enabled", "min_motion", "analysis_width", "history",
                                                        "max_skipped_in_row"};

Error invalid(const std::string& source, const std::string& field, const std::string& why) {
  return make_error("config.invalid", source + ": " + field + ": " + why);
}

template <size_t N>
std::string joined(const std::array<const char*, N>& keys) {
  std::string s;
  for (const char* k : keys) s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

template <size_t N>
bool known(const std::array<const char*, N>& keys, const std::string& k) {
  return std::any_of(keys.begin(), keys.end(), [&](const char* x) { return k == x; });
}

Result<bool> read_bool(const YAML::Node& n, const std::string& source, const std::string& field) {
  try {
    return n.as<bool>();
  } catch (const YAML::Exception&) {
    return invalid(source, field, "must be true or false (got '" + n.Scalar() + "')");
  }
}

Result<std::string> read_string(const YAML::Node& n, const std::string& source, const std::string& field) {
  if (!n || n.IsNull()) return invalid(source, field, "missing");
  if (!n.IsScalar()) return invalid(source, field, "must be a string");
  if (n.Scalar().empty()) return invalid(source, field, "must not be empty");
  return n.Scalar();
}

std::string resolve(const std::string& url, const std::string& base_dir) {
  if (url.find("://") != std::string::npos) return url;
  std::filesystem::path p(url);
  if (p.is_absolute() || base_dir.empty()) return url;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

Result<std::vector<StreamConfig>> parse_streams(const YAML::Node& node, const std::string& base_dir,
                                                const std::string& source) {
  std::vector<StreamConfig> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) return invalid(source, "streams", "must be a list of {name, url, loop}");
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node s = node[i];
    const std::string where = "streams[" + std::to_string(i) + "]";
    if (!s.IsMap()) return invalid(source, where, "must be a map with name and url");
    for (const auto& kv : s) {
      const std::string key = kv.first.Scalar();
      if (!known(kStreamKeys, key)) {
        return invalid(source, where + "." + key, "unknown field (expected " + joined(kStreamKeys) + ")");
      }
    }
    StreamConfig sc;
    auto name = read_string(s["name"], source, where + ".name");
    if (!name) return name.error();
    sc.name = *name;
    const bool ok_name = std::all_of(sc.name.begin(), sc.name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (!ok_name) {
      return invalid(source, where + ".name", "'" + sc.name + "' must be letters, digits, '-', '_' or '.' (it is the output URL path)");
    }
    if (!names.insert(sc.name).second) return invalid(source, where + ".name", "duplicate stream name '" + sc.name + "'");
    auto url = read_string(s["url"], source, where + ".url");
    if (!url) return url.error();
    sc.url = resolve(*url, base_dir);
    if (s["loop"]) {
      auto b = read_bool(s["loop"], source, where + ".loop");
      if (!b) return b.error();
      sc.loop = *b;
    }
    if (s["enabled"]) {
      auto b = read_bool(s["enabled"], source, where + ".enabled");
      if (!b) return b.error();
      sc.enabled = *b;
    }
    if (s["tls_verify"]) {
      auto b = read_bool(s["tls_verify"], source, where + ".tls_verify");
      if (!b) return b.error();
      sc.tls_verify = *b;
    }
    if (s["stall_timeout_s"]) {
      double v = 0;
      try {
        v = s["stall_timeout_s"].as<double>();
      } catch (const YAML::Exception&) {
        return invalid(source, where + ".stall_timeout_s",
                       "must be a number of seconds (got '" + s["stall_timeout_s"].Scalar() + "')");
      }
      if (!(v == 0 || (v >= 0.5 && v <= 3600)))
        return invalid(source, where + ".stall_timeout_s",
                       "must be 0 (the engine's default) or 0.5..3600 seconds (got " +
                           s["stall_timeout_s"].Scalar() + ")");
      sc.stall_timeout = Duration::seconds_f(v);
    }
    out.push_back(std::move(sc));
  }
  return out;
}

template <size_t N>
Status check_keys(const YAML::Node& m, const std::array<const char*, N>& keys, const std::string& source,
                  const std::string& where) {
  if (!m.IsMap()) return invalid(source, where, "must be a map");
  for (const auto& kv : m) {
    const std::string key = kv.first.Scalar();
    if (!known(keys, key)) return invalid(source, where + "." + key, "unknown field (expected " + joined(keys) + ")");
  }
  return {};
}

Result<int> read_int(const YAML::Node& n, const std::string& source, const std::string& field, int lo, int hi) {
  try {
    const int v = n.as<int>();
    if (v < lo || v > hi) return invalid(source, field, "must be in " + std::to_string(lo) + ".." + std::to_string(hi));
    return v;
  } catch (const YAML::Exception&) {
    return invalid(source, field, "must be an integer (got '" + n.Scalar() + "')");
  }
}

Result<std::vector<ModelConfig>> parse_models(const YAML::Node& node, const std::string& base_dir,
                                              const std::string& source) {
  std::vector<ModelConfig> out;
  if (!node || node.IsNull()) return out;
  if (!node.IsSequence()) return invalid(source, "models", "must be a list of {name, kind, path}");
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node m = node[i];
    const std::string where = "models[" + std::to_string(i) + "]";
    if (auto st = check_keys(m, kModelKeys, source, where); !st) return st.error();
    ModelConfig mc;
    auto name = read_string(m["name"], source, where + ".name");
    if (!name) return name.error();
    mc.name = *name;
    if (!names.insert(mc.name).second) return invalid(source, where + ".name", "duplicate model name '" + mc.name + "'");
    auto kind = read_string(m["kind"], source, where + ".kind");
    if (!kind) return kind.error();
    mc.kind = *kind;
    if (m["path"]) {
      auto path = read_string(m["path"], source, where + ".path");
      if (!path) return path.error();
      mc.path = resolve(*path, base_dir);
    }
    if (m["class_names"]) {
      auto cn = read_string(m["class_names"], source, where + ".class_names");
      if (!cn) return cn.error();
      mc.class_names = resolve(*cn, base_dir);
    }
    for (auto [key, dst, hi] : {std::tuple{"input_width", &mc.input_width, 8192},
                                std::tuple{"input_height", &mc.input_height, 8192},
                                std::tuple{"threads", &mc.threads, 256},
                                std::tuple{"fake_delay_ms", &mc.fake_delay_ms, 600000}}) {
      if (!m[key]) continue;
      auto v = read_int(m[key], source, where + "." + key, 0, hi);
      if (!v) return v.error();
      *dst = *v;
    }
    if (m["device"]) {
      auto text = read_string(m["device"], source, where + ".device");
      if (!text) return text.error();
      auto device = parse_inference_device(*text);
      if (!device) return invalid(source, where + ".device", device.error().message);
      mc.device = device->to_string();
    }
    if (mc.fake_delay_ms > 0 && mc.kind != "fake")
      return invalid(source, where + ".fake_delay_ms",
                     "only for kind 'fake' (got kind '" + mc.kind + "')");
    out.push_back(std::move(mc));
  }
  return out;
}

// `motion_gate: true|false` or `motion_gate: {enabled, min_motion, analysis_width, history,
// max_skipped_in_row}`; `where` is the pipeline's field path ("pipelines[0]").
Result<infer::MotionGateConfig> parse_motion_gate(const YAML::Node& n, const std::string& source,
                                                  const std::string& where) {
  const std::string field = where + ".motion_gate";
  infer::MotionGateConfig g;
  if (n.IsScalar()) {
    auto b = read_bool(n, source, field);
    if (!b) return b.error();
    g.enabled = *b;
    return g;
  }
  if (!n.IsMap()) {
    return invalid(source, field,
                   "must be true, false or a map with " + joined(kMotionGateKeys));
  }
  if (auto st = check_keys(n, kMotionGateKeys, source, field); !st) return st.error();
  g.enabled = true;  // giving the map turns the gate on unless it says otherwise
  if (n["enabled"]) {
    auto b = read_bool(n["enabled"], source, field + ".enabled");
    if (!b) return b.error();
    g.enabled = *b;
  }
  if (n["min_motion"]) {
    double v = 0;
    try {
      v = n["min_motion"].as<double>();
    } catch (const YAML::Exception&) {
      return invalid(source, field + ".min_motion",
                     "must be a number (fraction of pixels, 0..1; got '" + n["min_motion"].Scalar() + "')");
    }
    if (!(v >= 0 && v <= 1)) return invalid(source, field + ".min_motion", "must be in [0, 1] (a fraction of pixels)");
    g.min_motion_fraction = v;
  }
  for (auto [key, dst, lo] : {std::tuple{"analysis_width", &g.analysis_width, 1}, std::tuple{"history", &g.history, 1},
                              std::tuple{"max_skipped_in_row", &g.max_skipped_in_row, 0}}) {
    if (!n[key]) continue;
    auto v = read_int(n[key], source, field + "." + key, lo, 1'000'000);
    if (!v) return v.error();
    *dst = *v;
  }
  return g;
}

// `worker: [executable, arg, ...]` or `worker: executable`. The executable is resolved against
// the config's folder when it is a relative path (contains '/'); a bare name stays as written
// (looked up on PATH by the engine). Arguments are passed as written.
Result<std::vector<std::string>> parse_worker(const YAML::Node& n, const std::string& base_dir,
                                              const std::string& source, const std::string& where) {
  const std::string field = where + ".worker";
  std::vector<std::string> cmd;
  if (n.IsScalar()) {
    auto exe = read_string(n, source, field);
    if (!exe) return exe.error();
    cmd.push_back(*exe);
  } else if (n.IsSequence()) {
    if (n.size() == 0)
      return invalid(source, field, "must not be empty (give [executable, arg, ...])");
    for (size_t k = 0; k < n.size(); ++k) {
      const std::string item = field + "[" + std::to_string(k) + "]";
      if (!n[k].IsScalar()) return invalid(source, item, "must be a string");
      if (k == 0) {
        auto exe = read_string(n[k], source, item);
        if (!exe) return exe.error();
        cmd.push_back(*exe);
      } else {
        cmd.push_back(n[k].Scalar());  // an argument may be empty
      }
    }
  } else {
    return invalid(source, field,
                   "must be a list [executable, arg, ...] or a string (the executable)");
  }
  if (cmd[0].find('/') != std::string::npos) cmd[0] = resolve(cmd[0], base_dir);
  return cmd;
}

Result<std::vector<PipelineConfig>> parse_pipelines(const YAML::Node& node,
                                                    const std::vector<StreamConfig>& streams,
                                                    const std::vector<ModelConfig>& models,
                                                    const std::string& base_dir,
                                                    const std::string& source) {
  std::vector<PipelineConfig> out;
  if (!node || node.IsNull()) return out;
  if (!node.IsSequence()) return invalid(source, "pipelines", "must be a list of {name, stream, model}");
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node p = node[i];
    const std::string where = "pipelines[" + std::to_string(i) + "]";
    if (auto st = check_keys(p, kPipelineKeys, source, where); !st) return st.error();
    PipelineConfig pc;
    auto name = read_string(p["name"], source, where + ".name");
    if (!name) return name.error();
    pc.name = *name;
    if (!names.insert(pc.name).second) return invalid(source, where + ".name", "duplicate pipeline name '" + pc.name + "'");
    auto stream = read_string(p["stream"], source, where + ".stream");
    if (!stream) return stream.error();
    pc.stream = *stream;
    if (std::none_of(streams.begin(), streams.end(), [&](const StreamConfig& s) { return s.name == pc.stream; }))
      return invalid(source, where + ".stream", "no stream named '" + pc.stream + "'");
    auto model = read_string(p["model"], source, where + ".model");
    if (!model) return model.error();
    pc.model = *model;
    if (std::none_of(models.begin(), models.end(), [&](const ModelConfig& m) { return m.name == pc.model; }))
      return invalid(source, where + ".model", "no model named '" + pc.model + "'");
    if (p["sla"]) {
      auto text = read_string(p["sla"], source, where + ".sla");
      if (!text) return text.error();
      auto sla = parse_sla(*text);
      if (!sla) return invalid(source, where + ".sla", sla.error().message);
      pc.sla = *sla;
    }
    if (p["min_score"]) {
      try {
        pc.min_score = p["min_score"].as<float>();
      } catch (const YAML::Exception&) {
        return invalid(source, where + ".min_score", "must be a number");
      }
      if (!(pc.min_score >= 0 && pc.min_score <= 1)) return invalid(source, where + ".min_score", "must be in [0, 1]");
    }
    if (p["classes"]) {
      if (!p["classes"].IsSequence()) return invalid(source, where + ".classes", "must be a list of class names or ids");
      for (size_t k = 0; k < p["classes"].size(); ++k) {
        auto c = read_string(p["classes"][k], source, where + ".classes[" + std::to_string(k) + "]");
        if (!c) return c.error();
        pc.classes.push_back(*c);
      }
    }
    if (p["enabled"]) {
      auto b = read_bool(p["enabled"], source, where + ".enabled");
      if (!b) return b.error();
      pc.enabled = *b;
    }
    if (p["motion_gate"]) {
      auto g = parse_motion_gate(p["motion_gate"], source, where);
      if (!g) return g.error();
      pc.motion_gate = *g;
    }
    if (p["worker"]) {
      auto w = parse_worker(p["worker"], base_dir, source, where);
      if (!w) return w.error();
      pc.worker = std::move(w).value();
    }
    out.push_back(std::move(pc));
  }
  return out;
}

}  // namespace

Result<Config> parse_config(const std::string& yaml_text, const std::string& base_dir, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    return make_error("config.parse", source_name + ": YAML syntax error at line " + std::to_string(e.mark.line + 1) +
                                          ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    return make_error("config.parse", source_name + ": " + e.what());
  }
  Config cfg;
  cfg.source = source_name;
  if (root.IsNull()) return cfg;
  if (!root.IsMap()) return invalid(source_name, "(top level)", "must be a map with streams, models, pipelines");
  try {
    for (const auto& kv : root) {
      const std::string key = kv.first.Scalar();
      if (!known(kTopLevelKeys, key)) {
        return invalid(source_name, key, "unknown top-level key (expected " + joined(kTopLevelKeys) + ")");
      }
    }
    if (root["streams"]) {
      auto streams = parse_streams(root["streams"], base_dir, source_name);
      if (!streams) return streams.error();
      cfg.streams = std::move(streams.value());
    }
    auto models = parse_models(root["models"], base_dir, source_name);
    if (!models) return models.error();
    cfg.models = std::move(models.value());
    auto pipelines =
        parse_pipelines(root["pipelines"], cfg.streams, cfg.models, base_dir, source_name);
    if (!pipelines) return pipelines.error();
    cfg.pipelines = std::move(pipelines.value());
  } catch (const YAML::Exception& e) {
    return make_error("config.parse", source_name + ": " + e.what());
  }
  return cfg;
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("config.io", "cannot read config file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return parse_config(ss.str(), dir.empty() ? "." : dir, path);
}

}  // namespace orion::engine
