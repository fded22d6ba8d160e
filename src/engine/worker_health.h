// Worker health policy: a pure function of (now, what the engine has observed of one worker
// instance) → verdict. No clock, no syscalls, no locks: the supervisor loop gathers the facts,
// calls assess(), and applies the verdict (kill, restart). Unit-tested on made-up times
// (worker_health_test.cc), the way Kubernetes controllers test their reconcile functions.
//
// Verdicts, in the order they are checked:
//   kFatal            the worker said it cannot work (a fatal error such as a bad model file) or
//                     spoke a protocol/ABI this engine does not (protocol.mismatch /
//                     protocol.missing_version): restart reason "failed", state "failed"
//   kMisbehaved       it committed more protocol violations than allowed, or one that is never
//                     tolerated (a flood): restart reason "misbehaved"
//   kStartupTimeout   no "ready" within startup_timeout of the spawn (exec, model load)
//   kHung             no reply for heartbeat_timeout once it has spoken (SIGSTOP, dead lock);
//                     one detect() running longer than detect_timeout; a lease (a frame it
//                     reads) held longer than detect_timeout + heartbeat_timeout; or a frame loop
//                     that stopped marking progress while its heartbeats say it is idle
//   kStopOverdue      asked to stop and still there after stop_grace: SIGKILL
//   kHealthy
//
// Thread-safety: pure functions on values.
#pragma once

#include <cstdint>
#include <string>

#include "core/time.h"

namespace orion::engine {

struct HealthLimits {
  Duration heartbeat_interval = Duration::millis(250);
  Duration heartbeat_timeout = Duration::millis(1500);
  Duration startup_timeout = Duration::seconds(60);
  Duration detect_timeout = Duration::seconds(30);
  Duration stop_grace = Duration::seconds(2);
  uint64_t max_violations = 50;  // per instance; more → kMisbehaved
};

// What the engine knows about one instance. Every time comes from the engine's own clock,
// except `progress`, the worker loop's own mark in its mailbox (CLOCK_MONOTONIC; a hint that
// can only make a worker look stalled, never healthy).
struct HealthFacts {
  Timestamp spawned;
  bool spoke = false;    // any valid control line received
  Timestamp last_reply;  // last valid control line
  bool ready = false;
  Timestamp ready_at;
  Duration busy = Duration::nanos(-1);  // inside detect() for this long, as last reported; < 0 idle
  Timestamp progress;                   // worker's loop mark (unset if never)
  uint64_t lease_token = 0;             // the frame the worker holds, 0 = none
  Timestamp lease_since;                // when the engine first saw this lease_token
  uint64_t violations = 0;
  bool flood = false;  // a violation never tolerated
  bool fatal = false;  // a fatal error reported or a protocol refusal
  bool stopping = false;
  Timestamp stop_requested;
};

enum class HealthVerdict { kHealthy, kFatal, kMisbehaved, kStartupTimeout, kHung, kStopOverdue };

struct HealthAssessment {
  HealthVerdict verdict = HealthVerdict::kHealthy;
  std::string detail;     // names what was observed, e.g. "no heartbeat reply for 1.6 s"
  std::string violation;  // the violation code when the verdict is one ("lease.held_too_long")
};

HealthAssessment assess(const HealthFacts& facts, const HealthLimits& limits, Timestamp now);

// The restart reason a verdict is counted under ("failed", "misbehaved", "startup_timeout",
// "hung", "stopping"); "" for kHealthy.
const char* restart_reason(HealthVerdict v);

}  // namespace orion::engine
