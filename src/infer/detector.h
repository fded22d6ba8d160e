// Detector: the interface every object-detection backend implements (OpenCV DNN YOLOv8 and
// YOLOX, the HOG people detector, later ONNX Runtime / TensorRT / LibTorch), and the
// configuration that selects and tunes one.
//
// This header is OpenCV-free on purpose: workers, the engine and the compositor include it
// without pulling in any third-party header. Backends live in src/infer/detector_<kind>.cc and
// register themselves (see registry.h); callers create detectors with create_detector().
//
// Lifecycle: create_detector(config) loads and validates the model (the returned Detector is
// always ready to use; a model that cannot be loaded is an Error, never a half-built object).
// warm_up() is optional and runs a few inferences so that the first real detect() is not slow.
// detect() may be called any number of times; destroying the Detector frees the model.
//
// Thread-safety: a Detector is thread-compatible: one thread at a time may call its methods
// (a worker process owns one detector per pipeline). Different Detector objects may be used
// from different threads. Note that the OpenCV backends' thread count (DetectorConfig::threads)
// is a process-wide OpenCV setting: the last detector to run decides it.
//
// Ownership: detect() reads the frame's pixels during the call only and keeps no reference to
// them; the returned detections are owned by the caller.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/detection.h"
#include "core/frame.h"
#include "core/result.h"
#include "core/time.h"

namespace orion::infer {

// Everything that selects and tunes a detector. Plain value; the config/API layer fills it from
// a model spec ("yolox:path/to/model.onnx", see model_spec.h) plus model and pipeline settings.
struct DetectorConfig {
  std::string kind;        // registered kind: "yolov8", "yolox", "hog", ...
  std::string model_path;  // model file; empty for kinds that need none (hog)

  // Network input size in pixels. 0 = take it from the model file (its static input shape),
  // else the kind's default (yolov8 640×640, yolox 416×416; hog: longest side the image is
  // scaled down to before detection, default 640). A value that contradicts a model's static
  // input shape is an error ("model.input_size_mismatch").
  int input_width = 0;
  int input_height = 0;

  float score_threshold = 0.25f;  // keep detections whose score is >= this
  float iou_threshold = 0.45f;    // class-wise NMS: suppress boxes overlapping a better one more

  // Classes to keep, by name ("person") or by id ("0"); empty = every class. An entry that names
  // no class of the model is an error at load ("detector.unknown_class").
  std::vector<std::string> classes;

  // The model's class names inline, index = class id (from the database: a model's
  // class_names). When not empty they win over class_names_path; their count must be the
  // model's class count ("model.class_count_mismatch"; hog takes the first as its one class).
  std::vector<std::string> class_names;

  // Class names, one per line, line i = class id i. Empty (and no inline class_names) = from the
  // model's metadata (the Ultralytics "names" entry), else the 80 COCO names when the model has
  // 80 classes, else "class_<id>".
  std::string class_names_path;

  // Inference threads (OpenCV: cv::setNumThreads, process-wide). 0 = leave OpenCV's default.
  int threads = 0;

  // Where it runs, in the grammar of core/device.h: "cpu", "cuda:N" or "cuda" (= cuda:0); empty
  // = the kind's default (cuda:0 for the GPU kinds torch_yolov8 / torch_yolox, the CPU for the
  // others). A device the kind cannot run on is refused at load: the CPU kinds (OpenCV DNN,
  // HOG) take only "cpu", the GPU kinds only CUDA devices (ADR 0092).
  std::string device;
};

// Where the time of the last detect() went. Zero for stages a backend does not have.
struct DetectorTimings {
  Duration preprocess;   // colour conversion, letterbox, blob
  Duration forward;      // the network (or HOG's detectMultiScale)
  Duration postprocess;  // decode, thresholds, NMS, scaling back to frame pixels
  Duration total() const { return preprocess + forward + postprocess; }
};

// What a loaded detector is: useful for logs, the API and the compositor's legend.
struct DetectorInfo {
  std::string kind;
  std::string model_path;
  int input_width = 0;
  int input_height = 0;
  std::vector<std::string> class_names;  // index = class id
  std::string
      class_names_source;  // "inline", "file", "model metadata", "coco default", "generated"
};

class Detector {
 public:
  virtual ~Detector() = default;
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  virtual const DetectorInfo& info() const = 0;

  // Runs `iterations` inferences on a blank input so that later calls run at steady speed.
  // Error codes: "detector.inference_failed".
  virtual Status warm_up(int iterations = 1) = 0;

  // Detects objects in `frame`. Boxes are in the frame's pixels, clipped to the frame; the
  // result is sorted by descending score. Accepted frames: host memory in BGR24 (the pool's
  // format, read in place without a copy), RGB24, GRAY8, I420 and NV12 (converted).
  // Error codes: "detector.unsupported_frame" (unknown format, device memory, empty frame),
  // "detector.inference_failed" (the backend threw; the message says what it said).
  virtual Result<std::vector<Detection>> detect(const Frame& frame) = 0;

  // Timings of the last successful detect().
  virtual DetectorTimings last_timings() const = 0;

  // Runs only the network again on the input prepared by the last detect() (no pre- or
  // post-processing): the baseline of `orion bench detect`. Error codes: "detector.no_input"
  // (detect() never ran), "detector.unsupported" (a backend without a separable network),
  // "detector.inference_failed".
  virtual Status forward_only() = 0;

 protected:
  Detector() = default;
};

using DetectorPtr = std::unique_ptr<Detector>;

}  // namespace orion::infer
