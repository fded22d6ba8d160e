// The control messages between the engine and a worker process, and their JSON encoding:
// one JSON object per line on the worker's stdin (engine → worker) and stdout (worker →
// engine). docs/design/worker_protocol.md is the reference for workers in other languages;
// results travel apart, as datagrams (protocol/result.h).
//
//   engine → worker:
//     {"type":"configure","protocol":1,...WorkerConfig...}   once, first
//     {"type":"heartbeat","seq":N}                           periodically; must be answered
//     {"type":"state"}                                       asks for a "state" reply
//     {"type":"stop"}                                        finish the current frame, exit 0
//   worker → engine:
//     {"type":"hello","pid":P,"protocol":1,"abi":1}          first line; versions required
//     {"type":"ready","model":{...}}                         detector loaded
//     {"type":"heartbeat","seq":N,...WorkerCounters...}      the answer to a heartbeat
//     {"type":"state",...WorkerCounters...}
//     {"type":"error","code":C,"message":M,"fatal":B}
//     {"type":"stopped"[,...WorkerCounters...]}              final counts
//
// Versions: a worker's hello must carry "protocol" (kProtocolVersion) and "abi" (the shared-
// memory layout it reads, ipc::kAbiVersion); without them decode_control() fails with
// "protocol.missing_version", and check_hello() says "protocol.mismatch" for versions this
// build does not speak. "configure" must carry "protocol" too.
//
// Every decoder is strict about what arrives from the other process: size, one JSON object,
// depth, duplicate keys, and every field's type and range (the ranges are the constants below
// and the comments on the fields). A malformed message is an Error naming the field, never an
// exception or a crash. Unknown fields are ignored (forward compatibility).
//
// This module holds only the wire format: no detector or shared-memory types (the worker and
// the engine convert MotionGateSettings to and from their own configuration).
// Thread-safety: pure functions and value types; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace orion::protocol {

inline constexpr int kProtocolVersion = 1;

// Limits every decoder enforces (the encoders never exceed them).
inline constexpr size_t kMaxControlLineBytes = 256 * 1024;  // one line, without the '\n'
inline constexpr size_t kMaxNameBytes = 128;                // pipeline, stream, class names
inline constexpr size_t kMaxTypeBytes = 32;                 // "type", "state", "model.kind"
inline constexpr size_t kMaxPathBytes = 4096;               // model paths
inline constexpr size_t kMaxErrorCodeBytes = 128;
inline constexpr size_t kMaxErrorMessageBytes = 4096;  // encode_error() truncates to this
inline constexpr size_t kMaxConfiguredClasses = 1000;  // configure.model.classes
// configure.model.class_names: at most this many names (each 1..kMaxNameBytes, one line) and
// this many bytes of names in all, so that the line stays far below kMaxControlLineBytes.
inline constexpr size_t kMaxModelClassNames = 4096;
inline constexpr size_t kMaxClassNamesBytes = 128 * 1024;
inline constexpr int kMaxModelInput = 16384;           // model.input_width / input_height
inline constexpr int kMaxModelThreads = 1024;
inline constexpr int64_t kMaxBusyMs = 86'400'000;  // one day: busy_ms is in [-1, kMaxBusyMs]
inline constexpr int64_t kMaxCounter = (int64_t{1} << 53) - 1;  // exact in every JSON reader
inline constexpr int64_t kMaxPid = 0x7fffffff;
inline constexpr int kMaxMotionGateInteger = 1'000'000;  // analysis_width, history, max_skipped

// Which model and how to run it (as sent on the wire; the worker maps it to its detector).
struct ModelConfig {
  std::string kind;  // "yolov8", "yolox", "hog", or "fake" (no model: tests, benchmarks)
  std::string path;
  int input_width = 0;               // 0..kMaxModelInput; 0 = the model's own
  int input_height = 0;              // 0..kMaxModelInput
  std::vector<std::string> classes;  // at most kMaxConfiguredClasses names (or ids as text)
  // The model's class names, index = class id (the store's ModelRecord::class_names), given
  // inline; when not empty they win over class_names_path. Bounded by kMaxModelClassNames and
  // kMaxClassNamesBytes.
  std::vector<std::string> class_names;
  std::string class_names_path;
  int threads = 0;        // 0..kMaxModelThreads; 0 = the backend's default
  int fake_delay_ms = 0;  // kind "fake" only: time each detect() takes, 0..kMaxBusyMs
  // Where the worker runs the model (ADR 0092): "" (absent: the kind's default) or the grammar
  // of core/device.h, "cpu" | "cuda:N" | "cuda"; anything else is refused by the decoder
  // (at most kMaxTypeBytes). Whether the kind can run there is the worker's check (Orion's
  // worker: "device.unsupported" from infer::create_detector, a fatal error).
  std::string device;
  bool operator==(const ModelConfig&) const = default;
};

// Run the detector only on frames with motion: the same fields, defaults and meaning as the
// worker's motion gate (infer::MotionGateConfig; a worker test keeps the defaults equal).
// Sent as "motion_gate":{...} only when enabled; an absent object means disabled, so workers
// that do not know the gate stay correct. In the object, "enabled" defaults to true.
struct MotionGateSettings {
  bool enabled = false;
  int analysis_width = 320;            // 1..kMaxMotionGateInteger
  double min_motion_fraction = 0.002;  // [0, 1]
  int history = 200;                   // 1..kMaxMotionGateInteger
  double var_threshold = 16;           // (0, 1e6]
  double learning_rate = -1;           // -1 (automatic) or [0, 1]
  int max_skipped_in_row = 50;         // 0..kMaxMotionGateInteger
  bool operator==(const MotionGateSettings&) const = default;
};

struct WorkerConfig {
  std::string pipeline;  // required, 1..kMaxNameBytes
  std::string stream;
  uint32_t stream_id = 0;
  std::string sla = "best_effort";  // "critical" or "best_effort"
  ModelConfig model;                // required; model.kind required
  float min_score = 0.25f;          // [0, 1]
  float iou = 0.45f;                // [0, 1]
  MotionGateSettings motion_gate;
  int pool_fd = 3;     // read-only descriptor of the stream's pool segment
  int mailbox_fd = 4;  // read-write descriptor of this worker's mailbox segment
  int results_fd = 5;  // SOCK_SEQPACKET socket for results
};

std::string encode_configure(const WorkerConfig& c);
// Errors: "protocol.bad_json", "protocol.missing_version" (no integer "protocol"),
// "protocol.bad_message" (names the field; also an unsupported protocol version).
Result<WorkerConfig> decode_configure(std::string_view line);

// A control message of either direction, decoded loosely: the type plus every field either
// side uses (absent fields keep the defaults below). Fields are range-checked whatever the type.
struct ControlMessage {
  std::string type;      // required, 1..kMaxTypeBytes
  uint64_t seq = 0;      // heartbeat: 0..kMaxCounter
  std::string state;     // heartbeat reply / state: at most kMaxTypeBytes
  int64_t busy_ms = -1;  // heartbeat reply: ms inside the current detect(), -1 idle
  int64_t pid = 0;       // hello: 1..kMaxPid (0 = not sent)
  int protocol = 0;      // hello: control protocol version (required in a hello, >= 1)
  int abi = 0;           // hello: shared-memory ABI version (required in a hello, >= 1)
  std::string code;      // error: at most kMaxErrorCodeBytes
  std::string message;   // error: at most kMaxErrorMessageBytes
  bool fatal = false;    // error
  std::string raw;       // the line itself (for logs)
  // heartbeat reply / state / stopped: the worker's counters, each 0..kMaxCounter; 0 when not
  // sent. The motion counters are the worker's motion gate's (0 without a gate).
  uint64_t frames = 0, errors = 0, results_sent = 0, results_dropped = 0;
  uint64_t motion_frames = 0, motion_passed = 0, motion_skipped = 0;
};
// Errors: "protocol.bad_json", "protocol.bad_message" (names the field),
// "protocol.missing_version" (a hello without an integer "protocol" or "abi"; names it).
Result<ControlMessage> decode_control(std::string_view line);

// For a decoded hello: "protocol.mismatch" unless its protocol is kProtocolVersion and its ABI
// one this build reads (ipc::kCompatibleAbiVersions); the message gives both sides' versions.
Status check_hello(const ControlMessage& hello);

// Engine → worker.
std::string encode_heartbeat(uint64_t seq);
std::string encode_simple(std::string_view type);  // {"type":"state"}, {"type":"stop"}, ...

// Worker → engine.
// What a worker reports in heartbeat replies, state and stopped lines.
struct WorkerCounters {
  std::string state = "unconfigured";  // "unconfigured", "loading", "running", "closed"
  uint64_t frames = 0;                 // frames the detector ran on
  uint64_t errors = 0, results_sent = 0, results_dropped = 0;
  int64_t busy_ms = -1;  // clamped to kMaxBusyMs when encoded
  uint64_t motion_frames = 0, motion_passed = 0, motion_skipped = 0;
};
// What the worker loaded, for its "ready" line (informational: the engine logs it).
struct ReadyModel {
  std::string kind, path;
  int input_width = 0, input_height = 0;
  uint64_t classes = 0;  // number of class names
};
// {"type":"hello","pid":pid,"protocol":kProtocolVersion,"abi":ipc::kAbiVersion}
std::string encode_hello(int64_t pid);
std::string encode_ready(const ReadyModel& m);
std::string encode_heartbeat_reply(uint64_t seq, const WorkerCounters& c);
std::string encode_counters(std::string_view type, const WorkerCounters& c);  // state, stopped
// The message is cut to kMaxErrorMessageBytes (at a UTF-8 character boundary) so that a long
// error (an OpenCV exception) still reaches the engine.
std::string encode_error(const Error& e, bool fatal);

}  // namespace orion::protocol
