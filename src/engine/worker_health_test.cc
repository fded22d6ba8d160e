// The health policy on made-up times: no processes, no clock, no sleeps.
#include "engine/worker_health.h"

#include <gtest/gtest.h>

namespace orion::engine {
namespace {

const Timestamp t0 = Timestamp::from_nanos(1'000'000'000);
Timestamp at(int64_t ms) { return t0 + Duration::millis(ms); }

HealthLimits limits() {
  HealthLimits l;
  l.heartbeat_interval = Duration::millis(100);
  l.heartbeat_timeout = Duration::millis(1000);
  l.startup_timeout = Duration::seconds(5);
  l.detect_timeout = Duration::seconds(3);
  l.stop_grace = Duration::seconds(2);
  l.max_violations = 10;
  return l;
}

// A worker that started at t0, is ready since 200 ms and answered at `reply_ms`.
HealthFacts running(int64_t reply_ms) {
  HealthFacts f;
  f.spawned = t0;
  f.spoke = true;
  f.ready = true;
  f.ready_at = at(200);
  f.last_reply = at(reply_ms);
  f.progress = at(reply_ms);
  return f;
}

TEST(WorkerHealth, AWorkerAnsweringInTimeIsHealthy) {
  EXPECT_EQ(assess(running(5000), limits(), at(5050)).verdict, HealthVerdict::kHealthy);
}

TEST(WorkerHealth, NoReplyForLongerThanTheTimeoutIsHung) {
  const auto a = assess(running(5000), limits(), at(6001));
  EXPECT_EQ(a.verdict, HealthVerdict::kHung);
  EXPECT_NE(a.detail.find("no heartbeat reply"), std::string::npos) << a.detail;
  EXPECT_EQ(assess(running(5000), limits(), at(5999)).verdict, HealthVerdict::kHealthy);
}

TEST(WorkerHealth, SilenceBeforeTheFirstMessageIsBoundedByTheStartupTimeout) {
  HealthFacts f;
  f.spawned = t0;
  EXPECT_EQ(assess(f, limits(), at(4900)).verdict, HealthVerdict::kHealthy);
  EXPECT_EQ(assess(f, limits(), at(5001)).verdict, HealthVerdict::kStartupTimeout);
}

TEST(WorkerHealth, OneDetectLongerThanTheDetectTimeoutIsHung) {
  HealthFacts f = running(5000);
  f.busy = Duration::millis(2999);
  EXPECT_EQ(assess(f, limits(), at(5010)).verdict, HealthVerdict::kHealthy);
  f.busy = Duration::millis(3001);
  EXPECT_EQ(assess(f, limits(), at(5010)).verdict, HealthVerdict::kHung);
}

TEST(WorkerHealth, AFrameHeldLongerThanDetectPlusHeartbeatTimeoutIsHung) {
  HealthFacts f = running(9000);
  f.lease_token = 77;
  f.lease_since = at(5000);
  EXPECT_EQ(assess(f, limits(), at(8900)).verdict, HealthVerdict::kHealthy);
  const auto a = assess(f, limits(), at(9050));
  EXPECT_EQ(a.verdict, HealthVerdict::kHung);
  EXPECT_EQ(a.violation, "lease.held_too_long");
}

TEST(WorkerHealth, AnIdleWorkerWhoseLoopMadeNoProgressIsHung) {
  HealthFacts f = running(9000);
  f.progress = at(7000);  // the loop's last mark; heartbeats kept coming ("not busy")
  // window = heartbeat_timeout + 2 * interval = 1.2 s
  EXPECT_EQ(assess(f, limits(), at(8100)).verdict, HealthVerdict::kHealthy);
  EXPECT_EQ(assess(f, limits(), at(8300)).verdict, HealthVerdict::kHung);
  // The same silence inside a reported inference is not a stall.
  f.busy = Duration::millis(1500);
  EXPECT_EQ(assess(f, limits(), at(8300)).verdict, HealthVerdict::kHealthy);
}

TEST(WorkerHealth, ViolationsOverTheLimitOrAFloodAreMisbehaviour) {
  HealthFacts f = running(5000);
  f.violations = 10;
  EXPECT_EQ(assess(f, limits(), at(5010)).verdict, HealthVerdict::kHealthy);
  f.violations = 11;
  EXPECT_EQ(assess(f, limits(), at(5010)).verdict, HealthVerdict::kMisbehaved);
  f.violations = 0;
  f.flood = true;
  EXPECT_EQ(assess(f, limits(), at(5010)).verdict, HealthVerdict::kMisbehaved);
}

TEST(WorkerHealth, AFatalErrorWinsOverEverythingButStopping) {
  HealthFacts f = running(0);
  f.fatal = true;
  f.violations = 100;
  EXPECT_EQ(assess(f, limits(), at(60000)).verdict, HealthVerdict::kFatal);
  f.stopping = true;
  f.stop_requested = at(59000);
  EXPECT_EQ(assess(f, limits(), at(60000)).verdict, HealthVerdict::kHealthy);  // in its grace
  EXPECT_EQ(assess(f, limits(), at(61000)).verdict, HealthVerdict::kStopOverdue);
}

TEST(WorkerHealth, EveryVerdictHasARestartReason) {
  EXPECT_STREQ(restart_reason(HealthVerdict::kFatal), "failed");
  EXPECT_STREQ(restart_reason(HealthVerdict::kMisbehaved), "misbehaved");
  EXPECT_STREQ(restart_reason(HealthVerdict::kStartupTimeout), "startup_timeout");
  EXPECT_STREQ(restart_reason(HealthVerdict::kHung), "hung");
  EXPECT_STREQ(restart_reason(HealthVerdict::kStopOverdue), "stopping");
  EXPECT_STREQ(restart_reason(HealthVerdict::kHealthy), "");
}

}  // namespace
}  // namespace orion::engine
