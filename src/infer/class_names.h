// Class names of a detection model: from a names file, from the model's metadata (Ultralytics
// writes `names: {0: 'person', ...}`), or the COCO default (private to src/infer).
//
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/result.h"

namespace orion::infer {

struct ClassNames {
  std::vector<std::string> names;  // index = class id
  std::string source;  // "inline", "file", "model metadata", "coco default", "generated"
};

// One name per line (trailing whitespace and '\r' trimmed, trailing empty lines ignored).
// Error code "detector.class_names" when the file cannot be read or lists no names.
Result<std::vector<std::string>> read_class_names_file(const std::string& path);

// Parses an Ultralytics names dict, "{0: 'person', 1: 'bicycle'}" (single or double quotes).
// Returns an empty vector when the text is not such a dict or its ids are not 0..n-1.
std::vector<std::string> parse_names_metadata(const std::string& text);

// The 80 COCO names in YOLO order (0 person ... 79 toothbrush).
const std::vector<std::string>& coco_class_names();

// Resolves the names of a model with `num_classes` classes: `inline_names` when not empty
// (DetectorConfig::class_names), else the file (when `path` is set), else metadata["names"], else
// COCO when num_classes == 80, else "class_<id>". Inline names and a file must list exactly
// num_classes names. Error codes: "detector.class_names" (file unreadable),
// "model.class_count_mismatch".
Result<ClassNames> resolve_class_names(const std::vector<std::string>& inline_names,
                                       const std::string& path,
                                       const std::map<std::string, std::string>& metadata,
                                       int num_classes, const std::string& model_path);

// Turns DetectorConfig::classes (names or decimal ids) into a keep-mask over `names`.
// Empty `classes` gives an empty mask (keep all). Error code "detector.unknown_class".
Result<std::vector<uint8_t>> class_mask(const std::vector<std::string>& classes,
                                        const std::vector<std::string>& names);

}  // namespace orion::infer
