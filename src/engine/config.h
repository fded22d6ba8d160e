// Config: what `orion up --config orion.yaml` runs, from the YAML format of DESIGN.md:
//
//   streams:
//     - {name: cam1, url: "rtsp://127.0.0.1:8555/cam1"}
//     - {name: lobby, url: "../shared/assets/vtest_480x360.mp4", loop: true}
//   models:
//     - {name: yolox, kind: yolox, path: "../shared/assets/yolox_nano.onnx"}
//   pipelines:
//     - {name: people, stream: lobby, model: yolox, sla: critical, min_score: 0.3}
//     - {name: door, stream: cam1, model: yolox, motion_gate: true}
//     - name: yard
//       stream: cam1
//       model: yolox
//       motion_gate: {min_motion: 0.01, max_skipped_in_row: 100}
//
// Streams: `name` (required; letters, digits, '-', '_', '.'; unique; it is the RTSP output
// path), `url` (required; rtsp://, rtsps://, file://, v4l2://, test:// or a path), `loop`
// (bool, files only, default false), `enabled` (bool, default true), `tls_verify` (bool,
// rtsps:// only, default true: the camera's certificate must be trusted; false accepts a
// self-signed one, still encrypted but unauthenticated), `stall_timeout_s` (number of seconds,
// 0 or 0.5..3600, default 0 = the engine's default: a live source that stays connected but
// sends no frame for this long is `stalled` and restarted). A relative path is
// resolved against the config file's own folder. Unknown keys are errors (a typo must not be
// silently ignored); errors name the file, the field and what was wrong.
//
// Models: `name` (required, unique), `kind` (required: a detector kind such as yolov8, yolox,
// hog; checked against the registry when the engine is created), `path` (model file, resolved
// like stream paths; required for kinds that need a file), `input_width`/`input_height`
// (0 = from the model), `class_names` (file, one name per line), `threads`, `fake_delay_ms`
// (kind fake only: milliseconds each detection takes, 0..600000; a worker slow on purpose),
// `device` ("cpu", "cuda:N" or "cuda" = cuda:0, core/device.h; default the kind's: cuda:0 for
// torch_*, else cpu; ADR 0092).
// Pipelines (one worker process each): `name` (required, unique), `stream` and `model`
// (required, must name a stream / model above), `sla` (critical | best_effort, default
// best_effort), `min_score` (0..1, default 0.25), `classes` (list of class names or ids to
// keep; default all), `enabled` (default true), `motion_gate` (run the detector only on frames
// with motion, see infer/motion_gate.h; default off). `motion_gate` is either a bool or a map
// with optional keys `enabled` (bool, default true when the map is given), `min_motion`
// (fraction of pixels that must move, 0..1, default 0.002), `analysis_width` (int > 0, default
// 320), `history` (background model frames, int > 0, default 200), `max_skipped_in_row`
// (int >= 0, default 50: after that many skips one frame is detected anyway; 0 = never).
// `worker` (default: Orion's own `orion worker`) runs another worker program for this pipeline
// (one that speaks docs/design/worker_protocol.md): a list `[executable, arg, ...]` or a
// string (the executable alone); the engine appends `--parent-pid PID`. An executable
// containing '/' is a path, resolved like the others; a bare name is looked up on PATH when
// the engine is created. The arguments are passed as written. The pipeline's model goes to
// that program in `configure` unchecked (its kind need not be one Orion knows).
//
// To extend: add a struct and a member to Config, a parse function in config.cc, and its
// key to kTopLevelKeys. Thread-safety: value types and pure functions.
#pragma once

#include <string>
#include <vector>

#include "core/frame_supplier.h"
#include "core/result.h"
#include "infer/motion_gate.h"

namespace orion::engine {

struct StreamConfig {
  std::string name;
  std::string url;  // relative paths already resolved against the config file's folder
  bool loop = false;
  bool enabled = true;
  bool tls_verify = true;  // rtsps: validate the camera's certificate (media::CaptureOptions)
  // Live source connected but silent this long → `stalled`, restarted. zero: the engine's
  // default (EngineOptions::capture.stall_timeout, `orion up --stall-timeout`).
  Duration stall_timeout = Duration::zero();
};

struct ModelConfig {
  std::string name;
  std::string kind;
  std::string path;  // resolved; empty for kinds without a file
  int input_width = 0;
  int input_height = 0;
  std::string class_names;  // resolved path, or empty
  std::vector<std::string>
      class_names_inline;  // the names themselves (database); win over the file
  int threads = 0;
  int fake_delay_ms = 0;  // kind "fake" only: each detect() takes this long (overload tests)
  // Where inference runs, canonical text of core/device.h ("cpu", "cuda:N"); empty = the kind's
  // default. Engine::create refuses a device the kind cannot run on (Orion's worker only).
  std::string device{};
};

struct PipelineConfig {
  std::string name;
  std::string stream;
  std::string model;
  SlaClass sla = SlaClass::kBestEffort;  // parsed with parse_sla (core/frame_supplier.h)
  float min_score = 0.25f;
  float iou = 0.45f;  // non-maximum suppression overlap, [0, 1]
  std::vector<std::string> classes;
  bool enabled = true;
  infer::MotionGateConfig motion_gate;  // enabled = false unless the config turns it on
  std::vector<std::string> worker;      // executable + args; empty = `orion worker`
};

struct Config {
  std::string source;  // file it came from ("" when parsed from text)
  std::vector<StreamConfig> streams;
  std::vector<ModelConfig> models;
  std::vector<PipelineConfig> pipelines;
};

// Errors: "config.io" (cannot read), "config.parse" (YAML syntax, with line/column),
// "config.invalid" (message "FILE: streams[1].url: ...").
Result<Config> load_config(const std::string& path);
Result<Config> parse_config(const std::string& yaml_text, const std::string& base_dir,
                            const std::string& source_name = "<config>");

}  // namespace orion::engine
