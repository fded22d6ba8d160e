#include "engine/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace orion::engine {

namespace {

constexpr std::array<const char*, 3> kTopLevelKeys = {"streams", "models", "pipelines"};
constexpr std::array<const char*, 4> kStreamKeys = {"name", "url", "loop", "enabled"};

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
    out.push_back(std::move(sc));
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
    for (const char* k : {"models", "pipelines"}) {
      if (root[k] && !root[k].IsNull() && !root[k].IsSequence()) return invalid(source_name, k, "must be a list");
    }
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
