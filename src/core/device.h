// Where a model's inference runs (issue 13, item 4; ADR 0092): the CPU or one CUDA device.
// One grammar for every door that takes a device: the REST API and the YAML import (a model's
// `device`), the store, the engine → worker `configure` message and the detector registry.
//
//   "cpu"      the CPU (the OpenCV DNN and HOG kinds, the test kind "fake")
//   "cuda:N"   CUDA device N, N a decimal ordinal 0..9999 (the LibTorch kinds torch_*)
//   "cuda"     the same as "cuda:0"
//
// Nothing else: no upper case, no spaces, no sign, no "gpu0". The canonical text of a device
// (to_string()) is "cpu" or "cuda:N" with N without leading zeros; the API and the store hold
// only canonical text, so "cuda" and "cuda:01" are stored as "cuda:0" and "cuda:1".
//
// Thread-safety: pure functions and value types.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace orion {

struct InferenceDevice {
  enum class Kind { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int index = 0;  // CUDA ordinal (kCuda only; 0 for the CPU)

  bool is_cpu() const { return kind == Kind::kCpu; }
  // "cpu" or "cuda:N" (canonical).
  std::string to_string() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  bool operator==(const InferenceDevice&) const = default;
};

inline constexpr int kMaxCudaOrdinal = 9999;  // at most 4 digits

// Parses the grammar above. Error "device.invalid": the message quotes the text (cut to 64
// bytes, control characters shown as '?') and says what is accepted.
Result<InferenceDevice> parse_inference_device(std::string_view text);

// What a detector kind runs on, by its name: kinds "torch_*" (the LibTorch backend) on CUDA,
// every other kind on the CPU (OpenCV DNN sets DNN_TARGET_CPU; HOG and "fake" are CPU code).
// The API, the engine and the detector registry ask this one function (ADR 0092).
bool kind_runs_on_cuda(std::string_view kind);

// The device a model of `kind` gets when none is given: "cuda:0" for CUDA kinds, else "cpu".
InferenceDevice default_device_for_kind(std::string_view kind);

// Whether `device` suits `kind` (a CUDA kind needs a CUDA device, a CPU kind the CPU). Error
// "device.unsupported": the message names the kind, the device and the devices the kind takes.
Status check_device_for_kind(std::string_view kind, const InferenceDevice& device);

}  // namespace orion
