#include "infer/registry.h"

#include <algorithm>
#include <cassert>
#include <map>

#include "core/device.h"

namespace orion::infer {

namespace {

struct Entry {
  DetectorKindInfo info;
  DetectorFactory factory;
};

// Function-local static: registrations run during static initialisation of other files, in
// an unspecified order, so the map must exist before the first of them.
std::map<std::string, Entry, std::less<>>& entries() {
  static std::map<std::string, Entry, std::less<>> all;
  return all;
}

std::string kind_list() {
  std::string out;
  for (const auto& [name, e] : entries()) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out.empty() ? "(none)" : out;
}

}  // namespace

bool register_detector_kind(DetectorKindInfo info, DetectorFactory factory) {
  assert(factory != nullptr && "register_detector_kind: null factory");
  auto [it, inserted] = entries().emplace(info.kind, Entry{info, factory});
  assert(inserted && "register_detector_kind: kind registered twice");
  (void)it;
  (void)inserted;
  return true;
}

std::vector<DetectorKindInfo> detector_kinds() {
  std::vector<DetectorKindInfo> out;
  for (const auto& [name, e] : entries()) out.push_back(e.info);
  return out;
}

const DetectorKindInfo* find_detector_kind(std::string_view kind) {
  auto it = entries().find(kind);
  return it == entries().end() ? nullptr : &it->second.info;
}

Result<DetectorPtr> create_detector(const DetectorConfig& config) {
  auto it = entries().find(config.kind);
  if (it == entries().end()) {
    return make_error("detector.unknown_kind", "unknown detector kind '" + config.kind +
                                                   "' (registered kinds: " + kind_list() + ")");
  }
  if (config.score_threshold < 0 || config.score_threshold > 1 || config.iou_threshold < 0 ||
      config.iou_threshold > 1) {
    return make_error("detector.bad_config",
                      "score_threshold and iou_threshold must be within [0, 1] (got " +
                          std::to_string(config.score_threshold) + " and " +
                          std::to_string(config.iou_threshold) + ")");
  }
  if (config.input_width < 0 || config.input_height < 0 || config.threads < 0) {
    return make_error("detector.bad_config",
                      "input_width, input_height and threads must not be negative");
  }
  if (!config.device.empty()) {
    auto device = parse_inference_device(config.device);
    if (!device) return device.error();
    if (auto fits = check_device_for_kind(config.kind, *device); !fits) return fits.error();
  }
  if (it->second.info.needs_model_file && config.model_path.empty()) {
    return make_error("detector.bad_config", "detector kind '" + config.kind +
                                                 "' needs a model file (model_path is empty)");
  }
  return it->second.factory(config);
}

}  // namespace orion::infer
