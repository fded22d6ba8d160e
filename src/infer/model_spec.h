// Model specs: the `KIND:PATH` strings users write on the command line (`orion detect IMAGE
// --model yolox:../shared/assets/yolox_nano.onnx`, `--model hog`) and that the config/API
// layer accepts for a model.
//
// Syntax: KIND[:PATH]. KIND is a registered detector kind (case-insensitive, stored lower
// case). PATH is everything after the first ':' (so it may itself contain ':'); it is required
// for kinds that need a model file and refused for kinds that do not (hog).
//
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "infer/detector.h"

namespace orion::infer {

struct ModelSpec {
  std::string kind;
  std::string path;  // empty when the kind needs no model file

  bool operator==(const ModelSpec&) const = default;
};

// Error codes: "model_spec.empty", "model_spec.unknown_kind" (lists the registered kinds),
// "model_spec.missing_path" (e.g. "yolov8" or "yolov8:"), "model_spec.unexpected_path"
// (e.g. "hog:file").
Result<ModelSpec> parse_model_spec(std::string_view spec);

// "kind:path", or "kind" when there is no path. parse_model_spec(to_string(s)) == s.
std::string to_string(const ModelSpec& spec);

// A DetectorConfig with kind and model path from `spec`, every other field at its default.
DetectorConfig config_from_spec(const ModelSpec& spec);

}  // namespace orion::infer
