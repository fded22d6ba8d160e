// Worker intake: everything a worker process sends, turned into facts the engine can trust or a
// violation attributed to that worker. Pure logic over bytes and values — the supervisor loop
// reads the descriptors (bounded per turn) and hands the bytes here; no syscalls, no locks.
//
//   stdout bytes ─► LineFramer (lines ≤ kMaxControlLine) ─► ControlIntake ─► WorkerFacts
//   result datagrams ───────────────────────────────────────► ResultIntake ─► DetectionResult
//                                                                            (validated, clamped,
//                                                                             capped) or nothing
// Every refusal is counted in Violations under a stable code (the vocabulary below is also
// what PipelineStats::violations reports and what docs/design/worker_protocol.md lists):
//   protocol.bad_line          a control line that is not a protocol message
//   protocol.line_too_long     a control line over kMaxControlLine bytes (dropped whole)
//   protocol.flood             more than max_lines_per_second control lines in one second
//   protocol.missing_version   a hello without "protocol" or "abi"            (fatal)
//   protocol.mismatch          a hello with a protocol/ABI this engine does not speak (fatal)
//   result.malformed           a datagram that does not decode (bad JSON, NaN, bad fields)
//   result.oversized           a datagram over the protocol's size limit
//   result.wrong_stream        a result for another stream
//   result.never_offered       a sequence never offered to this worker instance (e.g. 2^63)
//   result.not_leased          a sequence offered but never taken by this instance
//   result.duplicate           a second result for one frame
//   result.too_old             a sequence older than the engine's delivery window (not counted
//                              toward the limit: a very slow honest worker can do it)
//   result.too_many_detections more than max_detections in one result: the best kept
//                              (not counted toward the limit)
//   result.box_out_of_frame    a box with no area inside the frame: dropped (not counted);
//                              boxes partly outside are clamped to the frame silently
//   mailbox.scribbled          (reported by the runner) a token the engine never offered written
//                              into the mailbox's offer word
// Thread-safety: thread-compatible (one owner: the supervisor thread).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/detection.h"
#include "core/time.h"

namespace orion::engine {

inline constexpr size_t kMaxControlLine = 64 * 1024;

struct Violations {
  std::map<std::string, uint64_t> counts;  // per code
  uint64_t counted = 0;                    // those that count toward HealthLimits::max_violations
  std::string last;                        // "code: message" of the newest
  void add(const std::string& code, const std::string& message, bool counts_toward_limit = true);
};

// Splits a byte stream into lines. A line longer than kMaxControlLine is dropped whole (through
// its newline, however far that is) and reported once.
class LineFramer {
 public:
  // Appends `bytes`; complete lines go to `lines` (without '\n'); returns how many over-long
  // lines were dropped.
  uint64_t feed(std::string_view bytes, std::vector<std::string>& lines);

 private:
  std::string buf_;
  bool skipping_ = false;  // inside an over-long line: discard until its newline
};

// What the control lines of one instance said, accepted only when they decode and make sense.
struct WorkerFacts {
  bool spoke = false;
  Timestamp last_reply;
  bool hello = false;
  bool ready = false;
  Timestamp ready_at;
  Duration busy = Duration::nanos(-1);
  uint64_t frames = 0;  // the worker's own count of frames it processed (informational)
  uint64_t motion_frames = 0, motion_passed = 0, motion_skipped = 0;  // as last reported
  bool fatal = false;
  std::string fatal_error;  // "code: message"
  std::string last_error;   // newest non-fatal error it reported
  bool stopped = false;     // sent "stopped"
};

class ControlIntake {
 public:
  explicit ControlIntake(uint64_t max_lines_per_second = 500) : max_lines_(max_lines_per_second) {}
  // One complete line. Updates facts or records a violation; `flood` is set once the line rate
  // goes over the limit.
  void on_line(std::string_view line, Timestamp now, WorkerFacts& facts, Violations& v);
  bool flood() const { return flood_; }

 private:
  uint64_t max_lines_;
  Timestamp window_start_;
  uint64_t window_lines_ = 0;
  bool flood_ = false;
};

// Where one sequence stands among the offers made to the instance that sent the result.
enum class OfferState { kTaken, kNotTaken, kNeverOffered, kTooOld };

struct FrameSize {
  int width = 0, height = 0;  // 0: unknown (boxes are then only bounded, not clamped)
};

class ResultIntake {
 public:
  struct Context {
    uint32_t stream_id = 0;
    std::string pipeline;
    size_t max_bytes = 256 * 1024;
    size_t max_detections = 100;
    std::function<OfferState(uint64_t sequence)> offer_state;
  };
  explicit ResultIntake(Context ctx) : ctx_(std::move(ctx)) {}

  // One datagram of `size` bytes (of which `bytes` were received: size > bytes.size() means it
  // was truncated). Returns the result to store, or nothing (the reason is in `v`).
  std::optional<DetectionResult> on_datagram(std::string_view bytes, size_t size, FrameSize frame,
                                             Violations& v);

 private:
  Context ctx_;
  std::unordered_set<uint64_t> accepted_;  // sequences with a result, the newest kRemember
  std::deque<uint64_t> accepted_order_;
  static constexpr size_t kRemember = 512;
};

}  // namespace orion::engine
