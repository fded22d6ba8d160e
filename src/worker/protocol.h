// The control and result messages between the engine and an `orion worker` process, and their
// JSON encoding. docs/design/worker_protocol.md is the reference for other languages.
//
//   engine → worker, stdin, one JSON object per line:
//     {"type":"configure", ...WorkerConfig...}   once, first; "motion_gate":{...} only when on
//     {"type":"heartbeat","seq":N}              periodically; must be answered
//     {"type":"state"}                          asks for a "state" reply
//     {"type":"stop"}                           finish the current frame, exit 0
//   worker → engine, stdout, one JSON object per line:
//     {"type":"hello","pid":P,"protocol":1,"abi":1}
//     {"type":"ready","model":{...}}            detector loaded, frames will be read
//     {"type":"heartbeat","seq":N,"state":S,"frames":F,"busy_ms":B,
//      "motion_frames":M,"motion_passed":P,"motion_skipped":K}
//     {"type":"state",...}                      counters, as in heartbeat
//     {"type":"error","code":C,"message":M,"fatal":true|false}
//     {"type":"stopped",...}                    counters, as in heartbeat (final values)
//   worker → engine, results socket (SOCK_SEQPACKET, one JSON object per datagram):
//     {"type":"result","sequence":..,"stream":..,"pts_ns":..,"capture_ns":..,"done_ns":..,
//      "inference_ns":..,"detections":[{"class_id":..,"class":"..","score":..,"box":[x1,y1,x2,y2]}]}
//
// Everything that arrives from the other side is parsed defensively: a malformed message is an
// Error naming what was wrong, never an exception or a crash.
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/detection.h"
#include "core/result.h"
#include "infer/motion_gate.h"

namespace orion::worker {

inline constexpr int kProtocolVersion = 1;
inline constexpr size_t kMaxDetectionsPerResult = 1000;
inline constexpr size_t kMaxResultBytes = 256 * 1024;

// Which model and how to run it (a subset of infer::DetectorConfig, as sent on the wire).
struct ModelConfig {
  std::string kind;  // "yolov8", "yolox", "hog", or "fake" (no model: tests, benchmarks)
  std::string path;
  int input_width = 0;
  int input_height = 0;
  std::vector<std::string> classes;
  std::string class_names_path;
  int threads = 0;
  int fake_delay_ms = 0;  // kind "fake" only: time each detect() takes
};

struct WorkerConfig {
  std::string pipeline;
  std::string stream;
  uint32_t stream_id = 0;
  std::string sla = "best_effort";
  ModelConfig model;
  float min_score = 0.25f;
  float iou = 0.45f;
  // Run the detector only on frames with motion. Sent as "motion_gate":{"enabled",
  // "analysis_width","min_motion_fraction","history","var_threshold","learning_rate",
  // "max_skipped_in_row"} when enabled; an absent object means disabled, so older engines and
  // workers that ignore it stay compatible. In the object, "enabled" defaults to true and every
  // other field to MotionGateConfig's default.
  infer::MotionGateConfig motion_gate;
  int pool_fd = 3;     // read-only descriptor of the stream's pool segment
  int mailbox_fd = 4;  // read-write descriptor of this worker's mailbox segment
  int results_fd = 5;  // SOCK_SEQPACKET socket for results
};

std::string encode_configure(const WorkerConfig& c);
// Error codes: "protocol.bad_json", "protocol.bad_message" (names the field).
Result<WorkerConfig> decode_configure(std::string_view line);

// A control message of either direction, decoded loosely: type plus the fields we use.
struct ControlMessage {
  std::string type;
  uint64_t seq = 0;      // heartbeat
  std::string state;     // heartbeat reply
  uint64_t frames = 0;   // heartbeat reply / state
  int64_t busy_ms = -1;  // heartbeat reply: ms inside the current detect(), -1 idle
  int64_t pid = 0;       // hello
  int protocol = 0;      // hello: control protocol version (0 = not sent)
  int abi = 0;           // hello: shared-memory ABI version (0 = not sent)
  std::string code;      // error
  std::string message;   // error
  bool fatal = false;    // error
  std::string raw;       // the line itself (for logs)
  // heartbeat reply / state / stopped: the worker's motion gate (infer::MotionGateStats); 0 when
  // the worker has no gate or does not report one.
  uint64_t motion_frames = 0, motion_passed = 0, motion_skipped = 0;
};
// Error codes: "protocol.bad_json", "protocol.bad_message".
Result<ControlMessage> decode_control(std::string_view line);

std::string encode_heartbeat(uint64_t seq);
std::string encode_simple(std::string_view type);  // {"type":"state"}, {"type":"stop"}, ...

// The worker's result datagram. `pipeline` is not sent: the engine knows whose socket it is.
std::string encode_result(const DetectionResult& r);
// Validates every field (types, finite numbers, score in [0,1], count limits).
// Error codes: "protocol.bad_json", "protocol.bad_result" (names the field).
Result<DetectionResult> decode_result(std::string_view datagram);

}  // namespace orion::worker
