#include "engine/worker_health.h"

#include <cstdio>

namespace orion::engine {

namespace {

std::string seconds(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", d.as_seconds());
  return buf;
}

HealthAssessment verdict(HealthVerdict v, std::string detail, std::string violation = "") {
  HealthAssessment a;
  a.verdict = v;
  a.detail = std::move(detail);
  a.violation = std::move(violation);
  return a;
}

}  // namespace

HealthAssessment assess(const HealthFacts& f, const HealthLimits& l, Timestamp now) {
  if (f.stopping) {
    if (now - f.stop_requested >= l.stop_grace)
      return verdict(
          HealthVerdict::kStopOverdue,
          "still running " + seconds(now - f.stop_requested) + " after it was asked to stop");
    return {};
  }
  if (f.fatal) return verdict(HealthVerdict::kFatal, "the worker cannot work");
  if (f.flood) return verdict(HealthVerdict::kMisbehaved, "flooded the engine with messages");
  if (f.violations > l.max_violations)
    return verdict(HealthVerdict::kMisbehaved,
                   std::to_string(f.violations) + " protocol violations (at most " +
                       std::to_string(l.max_violations) + " tolerated)");
  // Before its first message the process is still starting (exec, dynamic linking): that is
  // bounded by startup_timeout, not by the heartbeat window.
  if (!f.ready && now - f.spawned > l.startup_timeout)
    return verdict(HealthVerdict::kStartupTimeout,
                   "not ready " + seconds(now - f.spawned) + " after start");
  if (f.spoke && now - f.last_reply > l.heartbeat_timeout)
    return verdict(HealthVerdict::kHung, "no heartbeat reply for " + seconds(now - f.last_reply));
  if (f.busy > l.detect_timeout)
    return verdict(HealthVerdict::kHung, "one detect() has run for " + seconds(f.busy));
  if (f.lease_token != 0 && f.lease_since.is_set() &&
      now - f.lease_since > l.detect_timeout + l.heartbeat_timeout)
    return verdict(HealthVerdict::kHung, "held one frame for " + seconds(now - f.lease_since),
                   "lease.held_too_long");
  // The frame loop marks progress at least every 100 ms while it waits, and before each
  // inference. A worker that answers heartbeats and says it is not inside an inference, yet has
  // not marked progress for longer than the heartbeat window, has a stuck frame loop. The "not
  // busy" reply must be newer than the last progress, so a long inference that began after the
  // last reply is never mistaken for a stall.
  if (f.ready && f.busy < Duration::zero()) {
    const Timestamp progress = f.progress > f.ready_at ? f.progress : f.ready_at;
    const Duration window = l.heartbeat_timeout + l.heartbeat_interval * 2;
    if (now - progress > window && f.last_reply > progress + l.heartbeat_interval)
      return verdict(HealthVerdict::kHung,
                     "frame loop made no progress for " + seconds(now - progress));
  }
  return {};
}

const char* restart_reason(HealthVerdict v) {
  switch (v) {
    case HealthVerdict::kHealthy:
      return "";
    case HealthVerdict::kFatal:
      return "failed";
    case HealthVerdict::kMisbehaved:
      return "misbehaved";
    case HealthVerdict::kStartupTimeout:
      return "startup_timeout";
    case HealthVerdict::kHung:
      return "hung";
    case HealthVerdict::kStopOverdue:
      return "stopping";
  }
  return "";
}

}  // namespace orion::engine
