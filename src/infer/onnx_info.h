// OnnxInfo: what an ONNX file says about itself, read straight from its protobuf bytes before
// OpenCV sees it (private to src/infer).
//
// OpenCV's importer reports a missing, foreign or cut-off file with messages that name none of
// those causes (or aborts deep inside protobuf); this scanner checks the file first so that each
// bad input gets an error that says what is wrong. It also gives what OpenCV 4.6 does not
// expose: the model's metadata (Ultralytics stores the class names there), its static input
// shape, and its operator types (to recognise dynamically quantised int8 models, which OpenCV
// 4.6 cannot import).
//
// It reads only the fields it needs (ModelProto, GraphProto, NodeProto, ValueInfoProto and
// their shapes) and skips everything else, including weights, by length.
//
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace orion::infer {

struct OnnxTensorInfo {
  std::string name;
  int32_t elem_type = 0;      // onnx TensorProto.DataType (1 = float)
  std::vector<int64_t> dims;  // -1 where the dimension is symbolic or unknown
};

struct OnnxInfo {
  int64_t ir_version = 0;
  int64_t opset = 0;  // version of the default ("" / "ai.onnx") domain
  std::string producer;
  std::vector<OnnxTensorInfo> inputs;  // graph inputs that are not initializers
  std::vector<OnnxTensorInfo> outputs;
  std::set<std::string> op_types;
  std::map<std::string, std::string> metadata;
};

// Reads and scans `path`; on success `bytes` holds the whole file (for readNetFromONNX).
// Error codes: "model.not_found", "model.unreadable", "model.not_onnx", "model.truncated".
Result<OnnxInfo> read_onnx_file(const std::string& path, std::vector<char>& bytes);

// Scans bytes already in memory; `what` names them in error messages.
Result<OnnxInfo> scan_onnx(std::string_view bytes, const std::string& what);

}  // namespace orion::infer
