// The supervisor with real `orion worker` processes, real SIGKILL / SIGSTOP, real shared memory.
// A producer thread stands for capture (50 fps into the stream's ShmFramePool and a
// FrameSupplier); an "output" thread stands for the compositor and measures the fps that must
// hold whatever happens to the workers.
#include "engine/supervisor.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "core/frame_supplier.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY (path of the orion executable) must be defined by CMake"
#endif

namespace orion::engine {
namespace {

using namespace std::chrono_literals;
constexpr int kW = 160, kH = 120;
constexpr auto kFramePeriod = 20ms;  // 50 fps

// Capture + output stand-ins around one stream.
class Stream {
 public:
  Stream() {
    ipc::ShmFramePoolOptions o;
    o.stream_id = 1;
    o.stream_name = "cam";
    o.slot_count = 16;
    o.slot_capacity = size_t{kW} * kH * 3;
    pool = *ipc::ShmFramePool::create(o);
    FrameSupplierOptions so;
    so.name = "cam";
    supplier = std::make_unique<FrameSupplier>(so);
    output_sub = supplier->subscribe("output", SlaClass::kCritical);
    producer = std::thread([this] { produce(); });
    output = std::thread([this] { consume(); });
  }
  ~Stream() { stop(); }
  void stop() {
    if (stopped.exchange(true)) return;
    producer.join();
    supplier->stop();
    output.join();
    output_sub.reset();
  }
  uint64_t output_frames() const { return out_count.load(); }

  std::shared_ptr<ipc::ShmFramePool> pool;
  std::unique_ptr<FrameSupplier> supplier;
  std::unique_ptr<Subscription> output_sub;
  std::atomic<uint64_t> published{0}, out_count{0}, publish_failures{0};

 private:
  void produce() {
    auto next = std::chrono::steady_clock::now();
    for (uint64_t seq = 1; !stopped.load(); ++seq) {
      auto r = pool->acquire(FrameLayout::packed(PixelFormat::kBGR24, kW, kH));
      if (r.ok()) {
        MutableFramePtr f = std::move(r).value();
        std::memset(f->mutable_data(), static_cast<int>(seq & 0xFF), f->size());
        f->set_identity(FrameIdentity{1, seq, Duration::millis(static_cast<int64_t>(seq) * 20),
                                      SteadyClock::instance().now()});
        FramePtr frozen = freeze(std::move(f));
        supplier->publish(frozen);
        if (!pool->publish(frozen).ok()) publish_failures.fetch_add(1);
        published.fetch_add(1);
      } else {
        publish_failures.fetch_add(1);
      }
      next += kFramePeriod;
      std::this_thread::sleep_until(next);  // pacing: a 50 fps camera, not synchronisation
    }
  }
  void consume() {
    while (true) {
      auto f = output_sub->next_frame();
      if (!f.ok()) return;
      out_count.fetch_add(1);
    }
  }
  std::atomic<bool> stopped{false};
  std::thread producer, output;
};

SupervisorOptions fast_options() {
  SupervisorOptions o;
  o.worker_executable = ORION_BINARY;
  o.heartbeat_interval = Duration::millis(100);
  o.heartbeat_timeout = Duration::millis(600);
  o.backoff_initial = Duration::millis(100);
  o.backoff_max = Duration::millis(800);
  o.stop_grace = Duration::seconds(1);
  o.startup_timeout = Duration::seconds(20);
  return o;
}

PipelineSpec fake_pipeline(const std::string& name, int delay_ms) {
  PipelineSpec p;
  p.name = name;
  p.stream = "cam";
  p.model.kind = "fake";
  p.model.fake_delay_ms = delay_ms;
  return p;
}

// Waits (polling, as integration tests watching real processes do: testing/wait.h) until
// `cond` holds or `limit` passes; returns whether it held.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  return orion::testing::wait_until(cond, Duration::from(limit), Duration::millis(5));
}

bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string a, b, state;
  st >> a >> b >> state;
  return state == "Z" || state == "X";
}

TEST(SupervisorTest, AWorkerKilledMidFrame20TimesComesBackEachTimeAndNothingLeaks) {
  orion::testing::Watchdog dog(Duration::seconds(100), "SIGKILL x20");
  Stream s;
  ResultStore store;
  Supervisor sup(fast_options(), store);
  ASSERT_TRUE(sup.start().ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("victim", 60), s.pool).ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("bystander", 5), s.pool).ok());
  ASSERT_TRUE(eventually(
      [&] { return sup.stats("victim")->results > 0 && sup.stats("bystander")->results > 0; },
      10s));

  std::vector<pid_t> killed;
  uint64_t out_before = s.output_frames();
  const auto t_start = std::chrono::steady_clock::now();
  for (int round = 1; round <= 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Mid-frame: the victim holds a slot lease right now.
    ASSERT_TRUE(eventually(
        [&] {
          auto v = sup.stats("victim");
          return v->state == PipelineState::kRunning && v->lease_held;
        },
        5s));
    const PipelineStats before = *sup.stats("victim");
    const PipelineStats other_before = *sup.stats("bystander");
    ASSERT_EQ(::kill(before.pid, SIGKILL), 0);
    killed.push_back(before.pid);
    const auto t_kill = std::chrono::steady_clock::now();
    // Back: a new process running and producing results again, within 1 s.
    ASSERT_TRUE(eventually(
        [&] {
          auto v = sup.stats("victim");
          return v->pid != 0 && v->pid != before.pid && v->state == PipelineState::kRunning &&
                 v->results > before.results;
        },
        3s));
    const auto back_after = std::chrono::steady_clock::now() - t_kill;
    EXPECT_LT(back_after, 1s)
        << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(back_after).count()
        << " ms";
    const PipelineStats after = *sup.stats("victim");
    EXPECT_EQ(after.restarts, static_cast<uint64_t>(round));
    EXPECT_EQ(after.restart_reasons.at("crashed"), static_cast<uint64_t>(round));
    EXPECT_EQ(after.leases_reclaimed, before.leases_reclaimed + 1);  // its mid-frame lease
    EXPECT_EQ(after.offered, after.taken + after.dropped + after.pending);
    // The other worker never noticed.
    const PipelineStats other = *sup.stats("bystander");
    EXPECT_GT(other.taken, other_before.taken);
    EXPECT_GT(other.results, other_before.results);
    EXPECT_EQ(other.restarts, 0u);
    EXPECT_EQ(other.pid, other_before.pid);
    // No slot leaked: at most the engine's frames plus one offer and one lease per mailbox.
    const ipc::ShmPoolStats ps = s.pool->shm_stats();
    EXPECT_EQ(ps.mailboxes, 2u);
    EXPECT_LE(ps.offered_or_leased, 4u);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  const double out_fps = static_cast<double>(s.output_frames() - out_before) / secs;
  EXPECT_GT(out_fps, 0.9 * 50) << "output fps dropped to " << out_fps;
  EXPECT_EQ(s.publish_failures.load(), 0u);  // capture never starved of slots
  for (pid_t pid : killed) EXPECT_TRUE(process_gone(pid));

  // Stop everything: pool usage returns to zero, every worker is reaped.
  const pid_t last_victim = sup.stats("victim")->pid, last_other = sup.stats("bystander")->pid;
  sup.stop();
  s.stop();
  EXPECT_TRUE(process_gone(last_victim));
  EXPECT_TRUE(process_gone(last_other));
  const ipc::ShmPoolStats ps = s.pool->shm_stats();
  EXPECT_EQ(ps.mailboxes, 0u);
  EXPECT_EQ(ps.in_use, 0u);
  EXPECT_GE(ps.leases_reclaimed, 20u);
}

// Every descriptor a spawn needs refused (RLIMIT_NOFILE at the edge): each failed start gives its
// mailbox back, so retrying never pins the stream's slots; with descriptors back it starts.
TEST(SupervisorTest, FailedSpawnsGiveTheirMailboxBackEveryTime) {
  orion::testing::Watchdog dog(Duration::seconds(60), "spawn failures");
  Stream s;
  ResultStore store;
  Supervisor sup(fast_options(), store);
  ASSERT_TRUE(sup.start().ok());
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  size_t open_fds = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    ++open_fds;
  rlimit tight = saved;
  tight.rlim_cur = open_fds + 2;  // the mailbox and the pool's reader fd fit; the pipes do not
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("starved", 0), s.pool).ok());
  const bool failed_often = eventually(
      [&] {
        auto p = sup.stats("starved");
        auto it = p->restart_reasons.find("spawn_failed");
        return it != p->restart_reasons.end() && it->second >= 5;
      },
      20s);
  const ipc::ShmPoolStats during = s.pool->shm_stats();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(failed_often) << sup.stats("starved")->last_error;
  EXPECT_NE(sup.stats("starved")->last_error.find("process.io"), std::string::npos)
      << sup.stats("starved")->last_error;
  EXPECT_EQ(during.mailboxes, 0u) << "a failed spawn kept its mailbox";
  EXPECT_LE(during.offered_or_leased, 1u);
  ASSERT_TRUE(eventually([&] { return sup.stats("starved")->results > 0; }, 10s))
      << sup.stats("starved")->last_error;
  EXPECT_EQ(s.pool->shm_stats().mailboxes, 1u);
  sup.stop();
}

TEST(SupervisorTest, AStoppedWorkerIsDetectedAsHungAndReplaced) {
  orion::testing::Watchdog dog(Duration::seconds(60), "SIGSTOP");
  Stream s;
  ResultStore store;
  SupervisorOptions o = fast_options();
  Supervisor sup(o, store);
  ASSERT_TRUE(sup.start().ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("p", 5), s.pool).ok());
  ASSERT_TRUE(eventually([&] { return sup.stats("p")->results > 0; }, 10s));
  const pid_t old = sup.stats("p")->pid;
  // In its own process group: a terminal's Ctrl-C (SIGINT to our group) does not reach it.
  EXPECT_EQ(::getpgid(old), old);
  EXPECT_NE(::getpgid(old), ::getpgrp());
  ASSERT_EQ(::kill(old, SIGSTOP), 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return sup.stats("p")->restart_reasons.count("hung") == 1; }, 5s));
  const auto detected = std::chrono::steady_clock::now() - t0;
  // Within the heartbeat window: the timeout plus one heartbeat period and a poll tick.
  EXPECT_LT(detected, std::chrono::milliseconds(600 + 100 + 100 + 200));
  ASSERT_TRUE(eventually(
      [&] {
        auto v = sup.stats("p");
        return v->state == PipelineState::kRunning && v->pid != old;
      },
      3s));
  const PipelineStats replaced = *sup.stats("p");
  // SIGCONT to the old one: it is gone (killed and reaped), so nothing happens.
  EXPECT_TRUE(process_gone(old));
  (void)::kill(old, SIGCONT);
  ASSERT_TRUE(eventually([&] { return sup.stats("p")->results > replaced.results + 5; }, 5s));
  const PipelineStats later = *sup.stats("p");
  EXPECT_EQ(later.pid, replaced.pid);
  EXPECT_EQ(later.restarts, 1u);
  EXPECT_GT(later.results, replaced.results);
  EXPECT_EQ(later.offered, later.taken + later.dropped + later.pending);
}

TEST(SupervisorTest, ABadModelFileFailsThePipelineWithItsReasonAndRetriesWithBackoff) {
  orion::testing::Watchdog dog(Duration::seconds(60), "bad model");
  char path[] = "/tmp/orion-bad-model-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "this is not an onnx file", 24), 24);
  ::close(fd);
  Stream s;
  ResultStore store;
  Supervisor sup(fast_options(), store);
  ASSERT_TRUE(sup.start().ok());
  PipelineSpec bad;
  bad.name = "bad";
  bad.stream = "cam";
  bad.model.kind = "yolox";
  bad.model.path = path;
  ASSERT_TRUE(sup.add_pipeline(bad, s.pool).ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("good", 5), s.pool).ok());
  const uint64_t out_before = s.output_frames();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return sup.stats("bad")->restart_reasons["failed"] >= 1; }, 10s));
  PipelineStats b = *sup.stats("bad");
  EXPECT_EQ(b.state, PipelineState::kFailed);
  EXPECT_NE(b.last_error.find("model."), std::string::npos) << b.last_error;
  EXPECT_NE(b.last_error.find(path), std::string::npos) << b.last_error;  // names the file
  // Retried, with growing delays: 0.1, 0.2, 0.4, 0.8, 0.8 ... s.
  ASSERT_TRUE(eventually([&] { return sup.stats("bad")->restart_reasons["failed"] >= 4; }, 10s));
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(elapsed, 0.1 + 0.2 + 0.4);  // backoff, not a tight loop
  b = *sup.stats("bad");
  EXPECT_EQ(b.state, PipelineState::kFailed);
  EXPECT_EQ(b.results, 0u);
  // The stream and the other pipeline never noticed.
  const PipelineStats g = *sup.stats("good");
  EXPECT_EQ(g.restarts, 0u);
  EXPECT_GT(g.results, 10u);
  const double out_fps = static_cast<double>(s.output_frames() - out_before) / elapsed;
  EXPECT_GT(out_fps, 0.9 * 50);
  sup.stop();
  ::unlink(path);
}

// ADR 0092: a model's device reaches the real `orion worker` in its configure message and is
// checked there like any other input: a kind that cannot run on it fails the pipeline with a
// reason naming the device (the worker echoes the exact value it was sent), the CPU runs.
TEST(SupervisorTest, TheWorkerGetsTheModelsDeviceAndRefusesOneItsKindCannotRunOn) {
  orion::testing::Watchdog dog(Duration::seconds(60), "model device");
  Stream s;
  ResultStore store;
  Supervisor sup(fast_options(), store);
  ASSERT_TRUE(sup.start().ok());
  PipelineSpec hog;
  hog.name = "hog-on-gpu";
  hog.stream = "cam";
  hog.model.kind = "hog";
  hog.model.device = "cuda:7";
  PipelineSpec fake_gpu = fake_pipeline("fake-on-gpu", 5);
  fake_gpu.model.device = "cuda:3";
  PipelineSpec fake_cpu = fake_pipeline("fake-on-cpu", 5);
  fake_cpu.model.device = "cpu";
  for (const auto& p : {hog, fake_gpu, fake_cpu}) ASSERT_TRUE(sup.add_pipeline(p, s.pool).ok());

  for (auto [name, device] :
       {std::pair{"hog-on-gpu", "'cuda:7'"}, std::pair{"fake-on-gpu", "'cuda:3'"}}) {
    ASSERT_TRUE(eventually([&] { return sup.stats(name)->restart_reasons["failed"] >= 1; }, 20s))
        << name << ": " << sup.stats(name)->last_error;
    const PipelineStats b = *sup.stats(name);
    EXPECT_EQ(b.state, PipelineState::kFailed) << name;
    EXPECT_NE(b.last_error.find("device.unsupported"), std::string::npos) << b.last_error;
    EXPECT_NE(b.last_error.find(device), std::string::npos) << b.last_error;
    EXPECT_NE(b.last_error.find("CPU only"), std::string::npos) << b.last_error;
    EXPECT_EQ(b.results, 0u);
  }
  ASSERT_TRUE(eventually([&] { return sup.stats("fake-on-cpu")->results > 5; }, 20s))
      << sup.stats("fake-on-cpu")->last_error;
  EXPECT_EQ(sup.stats("fake-on-cpu")->restarts, 0u);
  sup.stop();
}

// The worker SDK document is complete: a worker written from it alone, in Python with numpy
// (examples/python_worker.py, no Orion code), runs under the real supervisor, reads frames
// in place and sends results with their frame identity.
TEST(SupervisorTest, APythonWorkerWrittenFromTheProtocolDocumentWorks) {
  orion::testing::Watchdog dog(Duration::seconds(60), "python worker");
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with numpy (python3-numpy) is not installed";
  const char* src = std::getenv("ORION_SOURCE_DIR");
  const std::string script =
      std::string(src ? src : ORION_SOURCE_DIR_DEFAULT) + "/examples/python_worker.py";
  Stream s;
  ResultStore store;
  SupervisorOptions o = fast_options();
  o.worker_executable = "/usr/bin/python3";
  o.worker_args = {script};
  o.heartbeat_timeout = Duration::seconds(2);
  Supervisor sup(o, store);
  ASSERT_TRUE(sup.start().ok());
  PipelineSpec p;
  p.name = "py";
  p.stream = "cam";
  p.model.kind = "python";
  ASSERT_TRUE(sup.add_pipeline(p, s.pool).ok());
  ASSERT_TRUE(eventually([&] { return sup.stats("py")->results >= 20; }, 20s))
      << sup.stats("py")->last_error;
  const PipelineStats st = *sup.stats("py");
  EXPECT_EQ(st.state, PipelineState::kRunning);
  EXPECT_EQ(st.restarts, 0u);
  EXPECT_EQ(st.bad_results, 0u);
  EXPECT_EQ(st.offered, st.taken + st.dropped + st.pending);
  // The producer's frames are uniform grey levels seq & 0xFF: bright ones give a whole-frame box.
  bool saw_box = false;
  auto check_latest = [&] {
    for (const auto& r : store.latest(1)) {
      EXPECT_EQ(r.pipeline, "py");
      EXPECT_GT(r.frame.sequence, 0u);
      EXPECT_TRUE(r.frame.capture_time.is_set());
      if (!r.detections.empty()) {
        EXPECT_EQ(r.detections[0].class_name, "bright");
        EXPECT_EQ(r.detections[0].box, (Box{0, 0, kW, kH}));
        EXPECT_GT(r.frame.sequence & 0xFF, 200u);
        saw_box = true;
      }
    }
    return saw_box;
  };
  (void)eventually(check_latest, 10s);
  EXPECT_TRUE(saw_box);
  sup.stop();
  EXPECT_EQ(sup.stats("py")->state, PipelineState::kStopped);
}

// A worker that says hello, then closes its output and never answers again: no busy loop on the
// closed pipe, and it is replaced as hung.
TEST(SupervisorTest, AWorkerThatClosesItsOutputIsReplacedAsHungWithoutSpinning) {
  orion::testing::Watchdog dog(Duration::seconds(60), "closed stdout");
  Stream s;
  ResultStore store;
  SupervisorOptions o = fast_options();
  o.worker_executable = "/bin/sh";
  o.worker_args = {
      "-c", "echo '{\"type\":\"hello\",\"protocol\":1,\"abi\":1}'; exec 1>&- 5>&-; exec sleep 30"};
  Supervisor sup(o, store);
  ASSERT_TRUE(sup.start().ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("mute", 0), s.pool).ok());
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return sup.stats("mute")->restart_reasons.count("hung") > 0; }, 5s));
  ::getrusage(RUSAGE_SELF, &after);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  const double cpu =
      secs(after.ru_utime) - secs(before.ru_utime) + secs(after.ru_stime) - secs(before.ru_stime);
  EXPECT_LT(cpu, 0.5 * wall) << "the supervisor spun on a closed pipe";
  sup.stop();
}

TEST(SupervisorTest, ARemovedPipelineStopsItsWorkerAndGivesItsMailboxBack) {
  orion::testing::Watchdog dog(Duration::seconds(60), "remove pipeline");
  Stream s;
  ResultStore store;
  Supervisor sup(fast_options(), store);
  ASSERT_TRUE(sup.start().ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("keep", 5), s.pool).ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("drop", 5), s.pool).ok());
  EXPECT_EQ(sup.add_pipeline(fake_pipeline("drop", 5), s.pool).error().code,
            "supervisor.duplicate");
  ASSERT_TRUE(eventually(
      [&] { return sup.stats("drop")->results > 0 && sup.stats("keep")->results > 0; }, 10s));
  const pid_t pid = sup.stats("drop")->pid;
  ASSERT_TRUE(sup.remove_pipeline("drop").ok());
  ASSERT_TRUE(eventually([&] { return !sup.stats("drop").has_value(); }, 5s));
  EXPECT_TRUE(process_gone(pid));
  EXPECT_EQ(s.pool->shm_stats().mailboxes, 1u);
  EXPECT_EQ(sup.remove_pipeline("drop").error().code, "supervisor.unknown_pipeline");
  const uint64_t keep_results = sup.stats("keep")->results;
  ASSERT_TRUE(eventually([&] { return sup.stats("keep")->results > keep_results; }, 5s));
  EXPECT_EQ(sup.stats("keep")->restarts, 0u);
}

TEST(SupervisorTest, AWorkerSpeakingAnotherProtocolVersionFailsThePipeline) {
  orion::testing::Watchdog dog(Duration::seconds(60), "protocol mismatch");
  Stream s;
  ResultStore store;
  SupervisorOptions o = fast_options();
  o.worker_executable = "/bin/sh";
  o.worker_args = {"-c", "echo '{\"type\":\"hello\",\"protocol\":99,\"abi\":1}'; exec sleep 30"};
  Supervisor sup(o, store);
  ASSERT_TRUE(sup.start().ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("old", 0), s.pool).ok());
  ASSERT_TRUE(
      eventually([&] { return sup.stats("old")->restart_reasons.count("failed") > 0; }, 5s));
  const PipelineStats st = *sup.stats("old");
  EXPECT_EQ(st.state, PipelineState::kFailed);
  EXPECT_NE(st.last_error.find("protocol.mismatch"), std::string::npos) << st.last_error;
  sup.stop();
}

TEST(SupervisorTest, AWorkerWhoseHelloHasNoVersionFailsThePipeline) {
  orion::testing::Watchdog dog(Duration::seconds(60), "missing version");
  Stream s;
  ResultStore store;
  SupervisorOptions o = fast_options();
  o.worker_executable = "/bin/sh";
  o.worker_args = {"-c", "echo '{\"type\":\"hello\",\"pid\":1}'; exec sleep 30"};
  Supervisor sup(o, store);
  ASSERT_TRUE(sup.start().ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("unversioned", 0), s.pool).ok());
  ASSERT_TRUE(eventually(
      [&] { return sup.stats("unversioned")->restart_reasons.count("failed") > 0; }, 5s));
  const PipelineStats st = *sup.stats("unversioned");
  EXPECT_EQ(st.state, PipelineState::kFailed);
  EXPECT_NE(st.last_error.find("protocol.missing_version"), std::string::npos) << st.last_error;
  EXPECT_EQ(st.violations.at("protocol.missing_version"), 1u);
  sup.stop();
}

// Writing to the stdin of a worker that closed it raises SIGPIPE; this test binary does not
// ignore SIGPIPE (orion's main does), so it dies here unless the supervisor contains it.
TEST(SupervisorTest, AWorkerThatClosesItsInputDoesNotTakeTheHostProcessDown) {
  orion::testing::Watchdog dog(Duration::seconds(60), "closed stdin");
  ASSERT_EQ(std::signal(SIGPIPE, SIG_DFL), SIG_DFL);
  Stream s;
  ResultStore store;
  SupervisorOptions o = fast_options();
  o.worker_executable = "/bin/sh";
  o.worker_args = {
      "-c", "exec 0<&-; echo '{\"type\":\"hello\",\"protocol\":1,\"abi\":1}'; exec sleep 30"};
  Supervisor sup(o, store);
  ASSERT_TRUE(sup.start().ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("deaf", 0), s.pool).ok());
  ASSERT_TRUE(eventually([&] { return sup.stats("deaf")->restart_reasons.count("hung") > 0; }, 5s));
  sup.stop();
}

// A worker whose control thread answers heartbeats ("not busy") but whose frame loop never
// moves (here: it never touches its mailbox at all) is hung too.
TEST(SupervisorTest, AWorkerWhoseFrameLoopIsStuckIsReplacedAsHung) {
  orion::testing::Watchdog dog(Duration::seconds(60), "stuck loop");
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "/usr/bin/python3 is needed";
  Stream s;
  ResultStore store;
  SupervisorOptions o = fast_options();
  o.worker_executable = "/usr/bin/python3";
  o.worker_args = {"-c",
                   "import json, sys\n"
                   "print(json.dumps({'type': 'hello', 'protocol': 1, 'abi': 1}), flush=True)\n"
                   "for line in sys.stdin:\n"
                   "    m = json.loads(line)\n"
                   "    if m['type'] == 'configure':\n"
                   "        print(json.dumps({'type': 'ready', 'model': {}}), flush=True)\n"
                   "    elif m['type'] == 'heartbeat':\n"
                   "        print(json.dumps({'type': 'heartbeat', 'seq': m['seq'], 'busy_ms': "
                   "-1}), flush=True)\n"};
  Supervisor sup(o, store);
  ASSERT_TRUE(sup.start().ok());
  ASSERT_TRUE(sup.add_pipeline(fake_pipeline("stuck", 0), s.pool).ok());
  ASSERT_TRUE(
      eventually([&] { return sup.stats("stuck")->state == PipelineState::kRunning; }, 10s));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      eventually([&] { return sup.stats("stuck")->restart_reasons.count("hung") > 0; }, 10s));
  // Window: heartbeat_timeout (600 ms) + 2 heartbeat intervals (200 ms), plus polling slack.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2500ms);
  // A real worker with a slow model is not a stall: 300 ms per frame, well past the window's
  // heartbeat interval, never replaced.
  sup.stop();
  Supervisor real(fast_options(), store);
  ASSERT_TRUE(real.start().ok());
  ASSERT_TRUE(real.add_pipeline(fake_pipeline("slow", 300), s.pool).ok());
  ASSERT_TRUE(eventually([&] { return real.stats("slow")->results >= 8; }, 15s))
      << real.stats("slow")->state << " results " << real.stats("slow")->results << " restarts "
      << real.stats("slow")->restarts << " " << real.stats("slow")->last_error;
  EXPECT_EQ(real.stats("slow")->restarts, 0u);
  real.stop();
}

TEST(SupervisorTest, NoWorkerOutlivesItsEngine) {
  orion::testing::Watchdog dog(Duration::seconds(60), "pdeathsig");
  // Orphans are re-parented to this test process, so it can see (and reap) them.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int pids[2];
  ASSERT_EQ(::pipe(pids), 0);
  const pid_t engine = ::fork();
  if (engine == 0) {  // a whole engine: pool, supervisor, two workers; then it is SIGKILLed
    ::close(pids[0]);
    ipc::ShmFramePoolOptions po;
    po.slot_count = 8;
    po.slot_capacity = size_t{kW} * kH * 3;
    auto pool = *ipc::ShmFramePool::create(po);
    ResultStore store;
    Supervisor sup(fast_options(), store);
    if (!sup.start().ok()) ::_exit(2);
    (void)sup.add_pipeline(fake_pipeline("a", 5), pool);
    (void)sup.add_pipeline(fake_pipeline("b", 5), pool);
    if (!eventually(
            [&] {
              return sup.stats("a")->state == PipelineState::kRunning &&
                     sup.stats("b")->state == PipelineState::kRunning;
            },
            30s))
      ::_exit(3);
    const pid_t w[2] = {sup.stats("a")->pid, sup.stats("b")->pid};
    (void)!::write(pids[1], w, sizeof w);
    for (;;) ::pause();
  }
  ::close(pids[1]);
  pid_t workers[2] = {0, 0};
  ASSERT_EQ(::read(pids[0], workers, sizeof workers), static_cast<ssize_t>(sizeof workers));
  ::close(pids[0]);
  ASSERT_EQ(::kill(engine, SIGKILL), 0);
  ASSERT_EQ(::waitpid(engine, nullptr, 0), engine);
  for (pid_t w : workers) {
    // PR_SET_PDEATHSIG: the kernel kills the worker when its engine dies; we reap it.
    int status = 0;
    const bool reaped = eventually([&] { return ::waitpid(w, &status, WNOHANG) == w; }, 3s);
    EXPECT_TRUE(reaped) << "worker " << w << " outlived its engine";
    if (reaped) {
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    }
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

}  // namespace
}  // namespace orion::engine
