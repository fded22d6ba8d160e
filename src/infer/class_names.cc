#include "infer/class_names.h"

#include <cctype>
#include <charconv>
#include <fstream>

namespace orion::infer {

Result<std::vector<std::string>> read_class_names_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("detector.class_names", "cannot read class names file '" + path + "'");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  if (names.empty()) {
    return make_error("detector.class_names", "class names file '" + path + "' lists no names");
  }
  return names;
}

std::vector<std::string> parse_names_metadata(const std::string& text) {
  std::vector<std::string> names;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  skip_ws();
  if (i >= text.size() || text[i] != '{') return {};
  ++i;
  while (true) {
    skip_ws();
    if (i < text.size() && text[i] == '}') break;
    int id = -1;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + text.size(), id);
    if (ec != std::errc() || id != static_cast<int>(names.size())) return {};
    i = static_cast<size_t>(p - text.data());
    skip_ws();
    if (i >= text.size() || text[i] != ':') return {};
    ++i;
    skip_ws();
    if (i >= text.size() || (text[i] != '\'' && text[i] != '"')) return {};
    const char quote = text[i++];
    const size_t end = text.find(quote, i);
    if (end == std::string::npos) return {};
    names.push_back(text.substr(i, end - i));
    i = end + 1;
    skip_ws();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    skip_ws();
    if (i < text.size() && text[i] == '}') break;
    return {};
  }
  return names;
}

const std::vector<std::string>& coco_class_names() {
  static const std::vector<std::string> names = {"person",        "bicycle",      "car",
                                                 "motorcycle",    "airplane",     "bus",
                                                 "train",         "truck",        "boat",
                                                 "traffic light", "fire hydrant", "stop sign",
                                                 "parking meter", "bench",        "bird",
                                                 "cat",           "dog",          "horse",
                                                 "sheep",         "cow",          "elephant",
                                                 "bear",          "zebra",        "giraffe",
                                                 "backpack",      "umbrella",     "handbag",
                                                 "tie",           "suitcase",     "frisbee",
                                                 "skis",          "snowboard",    "sports ball",
                                                 "kite",          "baseball bat", "baseball glove",
                                                 "skateboard",    "surfboard",    "tennis racket",
                                                 "bottle",        "wine glass",   "cup",
                                                 "fork",          "knife",        "spoon",
                                                 "bowl",          "banana",       "apple",
                                                 "sandwich",      "orange",       "broccoli",
                                                 "carrot",        "hot dog",      "pizza",
                                                 "donut",         "cake",         "chair",
                                                 "couch",         "potted plant", "bed",
                                                 "dining table",  "toilet",       "tv",
                                                 "laptop",        "mouse",        "remote",
                                                 "keyboard",      "cell phone",   "microwave",
                                                 "oven",          "toaster",      "sink",
                                                 "refrigerator",  "book",         "clock",
                                                 "vase",          "scissors",     "teddy bear",
                                                 "hair drier",    "toothbrush"};
  return names;
}

Result<ClassNames> resolve_class_names(const std::vector<std::string>& inline_names,
                                       const std::string& path,
                                       const std::map<std::string, std::string>& metadata,
                                       int num_classes, const std::string& model_path) {
  ClassNames out;
  if (!inline_names.empty()) {
    if (static_cast<int>(inline_names.size()) != num_classes) {
      return make_error("model.class_count_mismatch",
                        "the model's class_names lists " + std::to_string(inline_names.size()) +
                            " names but model '" + model_path + "' outputs " +
                            std::to_string(num_classes) + " classes");
    }
    out.names = inline_names;
    out.source = "inline";
    return out;
  }
  if (!path.empty()) {
    auto names = read_class_names_file(path);
    if (!names) return names.error();
    if (static_cast<int>(names->size()) != num_classes) {
      return make_error("model.class_count_mismatch",
                        "class names file '" + path + "' lists " + std::to_string(names->size()) +
                            " names but model '" + model_path + "' outputs " +
                            std::to_string(num_classes) + " classes");
    }
    out.names = std::move(*names);
    out.source = "file";
    return out;
  }
  if (auto it = metadata.find("names"); it != metadata.end()) {
    auto names = parse_names_metadata(it->second);
    if (static_cast<int>(names.size()) == num_classes) {
      out.names = std::move(names);
      out.source = "model metadata";
      return out;
    }
  }
  if (num_classes == 80) {
    out.names = coco_class_names();
    out.source = "coco default";
    return out;
  }
  for (int i = 0; i < num_classes; ++i) out.names.push_back("class_" + std::to_string(i));
  out.source = "generated";
  return out;
}

Result<std::vector<uint8_t>> class_mask(const std::vector<std::string>& classes,
                                        const std::vector<std::string>& names) {
  if (classes.empty()) return std::vector<uint8_t>{};
  std::vector<uint8_t> mask(names.size(), 0);
  for (const auto& c : classes) {
    size_t idx = names.size();
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == c) {
        idx = i;
        break;
      }
    }
    if (idx == names.size()) {
      int id = -1;
      auto [p, ec] = std::from_chars(c.data(), c.data() + c.size(), id);
      if (ec == std::errc() && p == c.data() + c.size() && id >= 0 &&
          static_cast<size_t>(id) < names.size()) {
        idx = static_cast<size_t>(id);
      }
    }
    if (idx == names.size()) {
      return make_error("detector.unknown_class",
                        "class filter '" + c + "' names no class of the model (it has " +
                            std::to_string(names.size()) + " classes, ids 0.." +
                            std::to_string(names.size() == 0 ? 0 : names.size() - 1) + ")");
    }
    mask[idx] = 1;
  }
  return mask;
}

}  // namespace orion::infer
