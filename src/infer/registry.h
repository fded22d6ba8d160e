// Registry of detector kinds: how "yolov8", "yolox", "hog" (and any later backend) become
// Detector objects without the caller knowing the backend.
//
// Adding a backend or a model family is one new file, src/infer/detector_<kind>.cc, ending in
// one line:
//     ORION_REGISTER_DETECTOR(mykind, {.kind = "mykind", ...}, &make_my_detector);
// Nothing else is edited: src/infer/CMakeLists.txt picks every detector_*.cc up and tells the
// linker to keep its registration (static libraries would otherwise drop an object file that
// nothing references; see docs/adr/0011-detector-registry.md).
//
// Thread-safety: registration happens during static initialisation (before main). After that
// the registry is read-only, and every function here is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "infer/detector.h"

namespace orion::infer {

// What a kind is, for `--help` texts, model-spec checks and the API's validation.
struct DetectorKindInfo {
  std::string kind;         // lower case, [a-z0-9_]
  std::string description;  // one line for humans
  bool needs_model_file = true;
};

// Builds and loads a detector. Returns an Error (never throws) when the model is bad.
using DetectorFactory = Result<DetectorPtr> (*)(const DetectorConfig& config);

// Registers a kind; returns true. A second registration of the same kind is a broken contract
// (assertion).
bool register_detector_kind(DetectorKindInfo info, DetectorFactory factory);

// Every registered kind, sorted by name.
std::vector<DetectorKindInfo> detector_kinds();

// Info of one kind, or nullptr when it is not registered.
const DetectorKindInfo* find_detector_kind(std::string_view kind);

// Creates and loads the detector `config.kind` names.
// Error codes: "detector.unknown_kind" (the message lists the registered kinds), plus each
// backend's load errors: "model.not_found", "model.unreadable", "model.not_onnx",
// "model.truncated", "model.unsupported_quantization", "model.import_failed",
// "model.bad_output_shape", "model.wrong_kind" (the output's values belong to the other
// family), "model.bad_input_shape", "model.input_size_mismatch", "model.class_count_mismatch",
// "detector.bad_config", "detector.unknown_class", "detector.class_names" (class-names file),
// "device.invalid" (config.device is not in the grammar of core/device.h), "device.unsupported"
// (a device the kind cannot run on: a CPU kind with "cuda:N", a GPU kind with "cpu").
Result<DetectorPtr> create_detector(const DetectorConfig& config);

}  // namespace orion::infer

// Registers a detector kind from its backend file. `id` is the kind as a C identifier; the
// linker keeps the file because CMake passes --undefined=orion_detector_registered_<id>.
#define ORION_REGISTER_DETECTOR(id, ...)                                                           \
  extern "C" {                                                                                     \
  extern const bool orion_detector_registered_##id;                                                \
  const bool orion_detector_registered_##id = ::orion::infer::register_detector_kind(__VA_ARGS__); \
  }
