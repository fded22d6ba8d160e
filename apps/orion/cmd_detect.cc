// `orion detect IMAGE --model KIND:PATH`: one-shot detection on a still image. Prints the
// detections as JSON on stdout and writes the annotated image beside the input
// (IMAGE_STEM.detections.jpg unless --out says otherwise).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"
#include "infer/detector.h"
#include "infer/image_io.h"
#include "infer/model_spec.h"
#include "infer/registry.h"

namespace {

struct DetectOptions {
  std::string image;
  std::string model;
  std::string out;
  std::string names;
  std::vector<std::string> classes;
  float score = 0.25f;
  float iou = 0.45f;
  int size = 0;
  int threads = 0;
  bool no_image = false;
};

int fail(const orion::Error& e) {
  std::fprintf(stderr, "orion detect: %s\n", e.to_string().c_str());
  return 1;
}

int run_detect(const DetectOptions& o) {
  namespace inf = orion::infer;
  auto spec = inf::parse_model_spec(o.model);
  if (!spec) return fail(spec.error());
  inf::DetectorConfig config = inf::config_from_spec(*spec);
  config.score_threshold = o.score;
  config.iou_threshold = o.iou;
  config.input_width = config.input_height = o.size;
  config.class_names_path = o.names;
  config.classes = o.classes;
  config.threads = o.threads;

  auto image = inf::load_image(o.image);
  if (!image) return fail(image.error());
  auto detector = inf::create_detector(config);
  if (!detector) return fail(detector.error());
  auto dets = (*detector)->detect(**image);
  if (!dets) return fail(dets.error());

  const auto t = (*detector)->last_timings();
  std::fprintf(stderr,
               "orion detect: %s on %s (%dx%d): %zu detections in %.1f ms (pre %.1f, network "
               "%.1f, post %.1f); class names: %s\n",
               inf::to_string(*spec).c_str(), o.image.c_str(), (*image)->width(),
               (*image)->height(), dets->size(), t.total().as_millis(), t.preprocess.as_millis(),
               t.forward.as_millis(), t.postprocess.as_millis(),
               (*detector)->info().class_names_source.c_str());
  std::printf("%s\n", inf::detections_to_json(*dets).c_str());

  if (!o.no_image) {
    std::string out = o.out;
    if (out.empty()) {
      std::filesystem::path p(o.image);
      out = (p.parent_path() / (p.stem().string() + ".detections.jpg")).string();
    }
    if (auto st = inf::write_annotated_image(out, **image, *dets); !st) return fail(st.error());
    std::fprintf(stderr, "orion detect: annotated image written to %s\n", out.c_str());
  }
  return 0;
}

void add_detect(CLI::App& app, CLI::App& /*bench*/) {
  static DetectOptions o;
  std::string kinds;
  for (const auto& k : orion::infer::detector_kinds()) {
    kinds += "\n  " + k.kind + (k.needs_model_file ? ":PATH" : "") + "  " + k.description;
  }
  auto* cmd = app.add_subcommand(
      "detect", "Detect objects in an image: JSON on stdout, annotated image beside it");
  cmd->add_option("image", o.image, "image file (JPEG, PNG, ...)")->required();
  cmd->add_option("--model,-m", o.model, "model spec KIND:PATH or KIND; kinds:" + kinds)
      ->required();
  cmd->add_option("--out,-o", o.out, "annotated image path (default IMAGE_STEM.detections.jpg)");
  cmd->add_flag("--no-image", o.no_image, "do not write the annotated image");
  cmd->add_option("--score", o.score, "score threshold")->capture_default_str();
  cmd->add_option("--iou", o.iou, "NMS IoU threshold")->capture_default_str();
  cmd->add_option("--size", o.size, "network input size (default: from the model)");
  cmd->add_option("--names", o.names,
                  "class names file, one per line (default: model metadata "
                  "or COCO)");
  cmd->add_option("--classes", o.classes, "keep only these classes (names or ids)");
  cmd->add_option("--threads", o.threads, "inference threads (default: OpenCV's)");
  cmd->callback([] { orion::cli::exit_code = run_detect(o); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_detect);
