#include "infer/model_spec.h"

#include <cctype>

#include "infer/registry.h"

namespace orion::infer {

namespace {

std::string kind_list() {
  std::string out;
  for (const auto& k : detector_kinds()) {
    if (!out.empty()) out += ", ";
    out += k.kind;
  }
  return out.empty() ? "(none)" : out;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

Result<ModelSpec> parse_model_spec(std::string_view spec) {
  const std::string text = trim(spec);
  if (text.empty()) {
    return make_error("model_spec.empty",
                      "empty model spec: expected KIND:PATH (e.g. yolox:models/yolox_nano.onnx) "
                      "or a kind without a model file (e.g. hog)");
  }
  const size_t colon = text.find(':');
  ModelSpec out;
  out.kind = trim(std::string_view(text).substr(0, colon));
  for (char& c : out.kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool has_path_part = colon != std::string::npos;
  if (has_path_part) out.path = trim(std::string_view(text).substr(colon + 1));

  const DetectorKindInfo* info = find_detector_kind(out.kind);
  if (info == nullptr) {
    return make_error("model_spec.unknown_kind", "model spec '" + text + "': unknown kind '" +
                                                     out.kind + "' (known kinds: " + kind_list() +
                                                     ")");
  }
  if (info->needs_model_file && out.path.empty()) {
    return make_error("model_spec.missing_path", "model spec '" + text + "': kind '" + out.kind +
                                                     "' needs a model file: write " + out.kind +
                                                     ":PATH");
  }
  if (!info->needs_model_file && !out.path.empty()) {
    return make_error("model_spec.unexpected_path", "model spec '" + text + "': kind '" + out.kind +
                                                        "' takes no model file: write " + out.kind);
  }
  return out;
}

std::string to_string(const ModelSpec& spec) {
  return spec.path.empty() ? spec.kind : spec.kind + ":" + spec.path;
}

DetectorConfig config_from_spec(const ModelSpec& spec) {
  DetectorConfig c;
  c.kind = spec.kind;
  c.model_path = spec.path;
  return c;
}

}  // namespace orion::infer
