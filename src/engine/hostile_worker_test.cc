// The hostile-worker suite (issue 9): one Engine per test, one stream at 25 fps, an honest
// pipeline (the real `orion worker`, model kind "fake") and a hostile one on the same stream
// whose worker is orion_hostile_worker (src/engine/testing/hostile_worker.cc) in one mode.
// Everything is real: processes, shared memory, the RTSP output read by a real RtspTestClient.
//
// For every mode the test measures a window of misbehaviour and asserts that
//   - the honest pipeline keeps producing (its result count grows, fresh results, same pid,
//     no restart) and the engine keeps answering (Engine::pipelines() never blocks long);
//   - the stream's RTSP output keeps the input rate (>= 90 % of 25 fps over the window, no
//     gap above 4 frame intervals, sequence stamps increasing) and capture drops nothing;
//   - the engine never goes down: it is this test process (a SIGBUS would end the suite);
//   - the hostile pipeline is marked: a violation code in PipelineStats::violations, named in
//     its last_error, and where the mode calls for it the restart reason ("misbehaved", "hung",
//     "failed").
// Attacks the kernel must refuse (pool writes, ftruncate, hole punching) leave the engine
// nothing to see: those tests check from the outside (the hostile program's own report of each
// syscall, and the pixels of every frame the stream's supplier hands out).
//
// Nothing sleeps to synchronise: every wait is on a condition (testing/wait.h).
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/worker_test_support.h"
#include "media/testing/rtsp_fixtures.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must be defined by CMake"
#endif
#ifndef HOSTILE_WORKER
#error "HOSTILE_WORKER must be defined by CMake"
#endif

namespace orion::engine {
namespace {

using media::testing::ReceivedFrame;
using media::testing::RtspTestClient;
using orion::testing::wait_until;

constexpr int kWidth = 320, kHeight = 240, kFps = 25;
constexpr StreamId kCam = 1, kOther = 2;  // stream ids in config order
const Duration kWindow = Duration::seconds(3);
// The protocol's limit on detections per result (worker/protocol.h kMaxDetectionsPerResult).
constexpr size_t kDetectionLimit = 1000;

Timestamp now() { return SteadyClock::instance().now(); }

uint64_t count(const std::map<std::string, uint64_t>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

std::string describe(const std::optional<PipelineStats>& p) {
  if (!p) return "(no such pipeline)";
  std::ostringstream s;
  s << "state=" << p->state << " pid=" << p->pid << " instances=" << p->instances
    << " restarts=" << p->restarts << " reasons={";
  for (const auto& [k, v] : p->restart_reasons) s << k << ":" << v << " ";
  s << "} violations={";
  for (const auto& [k, v] : p->violations) s << k << ":" << v << " ";
  s << "} last_error='" << p->last_error.substr(0, 300) << "' results=" << p->results
    << " bad_results=" << p->bad_results << " offered=" << p->offered << " taken=" << p->taken
    << " dropped=" << p->dropped << " leases_reclaimed=" << p->leases_reclaimed;
  return s.str();
}

// ---- processes, found by their command line (never by a pid a worker reported) ----------------
std::vector<std::pair<pid_t, std::vector<std::string>>> processes() {
  std::vector<std::pair<pid_t, std::vector<std::string>>> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != 0) continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (all.empty()) continue;  // a zombie or a kernel thread
    std::vector<std::string> argv;
    std::string arg;
    std::istringstream in(all);
    while (std::getline(in, arg, '\0')) argv.push_back(arg);
    out.emplace_back(static_cast<pid_t>(pid), std::move(argv));
  }
  ::closedir(d);
  return out;
}

// Processes of orion_hostile_worker whose arguments mention `dir` (every instance of one test).
std::vector<pid_t> hostile_processes(const std::string& dir) {
  std::vector<pid_t> pids;
  for (const auto& [pid, argv] : processes()) {
    if (argv.empty() || argv[0].find("orion_hostile_worker") == std::string::npos) continue;
    for (const auto& a : argv)
      if (a.find(dir) != std::string::npos) {
        pids.push_back(pid);
        break;
      }
  }
  return pids;
}

// Descendants left by fork-children: `orion_hostile_worker --orphan MARKER`.
std::vector<pid_t> marked_orphans(const std::string& marker) {
  std::vector<pid_t> pids;
  for (const auto& [pid, argv] : processes())
    if (argv.size() >= 3 && argv[1] == "--orphan" && argv[2] == marker) pids.push_back(pid);
  return pids;
}

// ---- observers that never block the test thread on the engine ---------------------------------

// Samples Engine::pipelines() on a thread of its own every 20 ms, so that a supervisor held up
// by a worker cannot hang the test; records the longest call (in flight included).
class StatsSampler {
 public:
  explicit StatsSampler(const Engine& e) : engine_(e) {
    thread_ = std::thread([this] { run(); });
  }
  ~StatsSampler() { stop(); }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  std::optional<PipelineStats> pipeline(const std::string& name) const {
    std::lock_guard lock(mu_);
    for (const auto& p : latest_)
      if (p.name == name) return p;
    return std::nullopt;
  }
  // Longest Engine::pipelines() call since reset(), counting one still in progress.
  Duration longest_call() const {
    std::lock_guard lock(mu_);
    Duration d = longest_;
    if (call_started_.is_set()) d = std::max(d, now() - call_started_);
    return d;
  }
  void reset() {
    std::lock_guard lock(mu_);
    longest_ = Duration::zero();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      call_started_ = now();
      lock.unlock();
      auto v = engine_.pipelines();
      lock.lock();
      longest_ = std::max(longest_, now() - call_started_);
      call_started_ = Timestamp{};
      latest_ = std::move(v);
      ++samples_;
      cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stop_; });  // period
    }
  }
  const Engine& engine_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                  // guarded by mu_
  std::vector<PipelineStats> latest_;  // guarded by mu_
  Timestamp call_started_;             // guarded by mu_
  Duration longest_;                   // guarded by mu_
  uint64_t samples_ = 0;               // guarded by mu_
  std::thread thread_;
};

// Reads every frame the stream's supplier hands out (the pool's own memory) and looks for the
// hostile program's signature and for zeroed pages (64 zero bytes in a row: a punched hole; the
// "white" test pattern has no zero byte).
class PoolWatcher {
 public:
  explicit PoolWatcher(FrameSupplier& s) : sub_(s.subscribe("hostile-test-watch")) {
    thread_ = std::thread([this] { run(); });
  }
  ~PoolWatcher() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    sub_.reset();
  }
  uint64_t checked() const { return checked_; }
  uint64_t scribbled() const { return scribbled_; }
  uint64_t zeroed() const { return zeroed_; }

 private:
  void run() {
    static const char kZeros[64] = {};
    while (!stop_) {
      auto f = sub_->next_frame(Duration::millis(100));
      if (!f.ok()) {
        if (f.error().code == "closed") return;
        continue;
      }
      const uint8_t* p = (*f)->data();
      const size_t n = (*f)->size();
      if (::memmem(p, n, "HOSTILE!", 8) != nullptr) ++scribbled_;
      if (::memmem(p, n, kZeros, sizeof kZeros) != nullptr) ++zeroed_;
      ++checked_;
    }
  }
  std::unique_ptr<Subscription> sub_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> checked_{0}, scribbled_{0}, zeroed_{0};
  std::thread thread_;
};

// ---- the fixture
// ---------------------------------------------------------------------------------
struct Scenario {
  std::string mode;  // the hostile pipeline's mode; "" = no hostile pipeline
  std::string pattern = "ball";
  bool other_stream = false;  // a second stream (id 2) the hostile worker may target
  bool relay_honest = false;  // the honest `orion worker` runs behind the relay (its counts)
  bool watch_pool = false;    // a PoolWatcher on the stream
};

struct Window {
  PipelineStats honest0, honest1;
  std::optional<PipelineStats> hostile0, hostile1;
  media::StreamStatus capture0, capture1;
  Timestamp t0, t1;
  std::vector<ReceivedFrame> frames;  // output pictures that arrived within [t0, t1]
  Duration longest_stats_call;
};

class HostileWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (std::filesystem::temp_directory_path() /
            ("orion_hostile_" + std::to_string(::getpid()) + "_" + info->name()))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    report_path_ = dir_ + "/hostile.log";
  }

  void TearDown() override {
    if (client_) client_->stop();
    if (engine_) {
      // A worker that holds the supervisor up would keep stop() from finishing: kill every
      // instance of the hostile program until it has.
      std::atomic<bool> done{false};
      std::thread stopper([&] {
        engine_->stop();
        done = true;
      });
      wait_until(
          [&] {
            for (pid_t pid : hostile_processes(dir_)) ::kill(pid, SIGKILL);
            return done.load();
          },
          Duration::seconds(30), Duration::millis(50));
      stopper.join();
    }
    if (sampler_) sampler_->stop();
    if (watcher_) watcher_->stop();
    // Leave nothing behind, whatever the engine did.
    for (pid_t pid : marked_orphans(dir_)) ::kill(pid, SIGKILL);
    for (pid_t pid : hostile_processes(dir_)) ::kill(pid, SIGKILL);
    client_.reset();
    sampler_.reset();
    watcher_.reset();
    engine_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string yaml(const Scenario& s) const {
    std::string y = "streams:\n  - {name: cam, url: 'test://" + s.pattern +
                    "?width=" + std::to_string(kWidth) + "&height=" + std::to_string(kHeight) +
                    "&fps=" + std::to_string(kFps) + "'}\n";
    if (s.other_stream) y += "  - {name: other, url: 'test://ball?width=160&height=120&fps=10'}\n";
    y += "models:\n  - {name: fake, kind: fake}\npipelines:\n";
    y += "  - {name: honest, stream: cam, model: fake";
    if (s.relay_honest)
      y += ", worker: ['" + std::string(HOSTILE_WORKER) + "', --mode, relay, --report, '" + dir_ +
           "/relay.log', --exec, '" + ORION_BINARY + "', worker]";
    y += "}\n";
    if (!s.mode.empty())
      y += "  - {name: hostile, stream: cam, model: fake, worker: ['" +
           std::string(HOSTILE_WORKER) + "', --mode, " + s.mode + ", --report, '" + report_path_ +
           "', --marker, '" + dir_ + "']}\n";
    return y;
  }

  // Engine up, the honest pipeline producing, an RTSP client receiving; the hostile program
  // (if any) runs, behaving, until begin_attack().
  void start(const Scenario& s) {
    auto cfg = parse_config(yaml(s), dir_, "hostile.yaml");
    ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
    EngineOptions o = testing::worker_engine_options(ORION_BINARY, size_t{kWidth} * kHeight * 3);
    o.stamp_sequence = true;
    o.supervisor.detect_timeout = Duration::seconds(2);
    auto e = Engine::create(*cfg, o);
    ASSERT_TRUE(e.ok()) << e.error().to_string();
    engine_ = std::move(e).value();
    ASSERT_TRUE(engine_->start().ok());
    sampler_ = std::make_unique<StatsSampler>(*engine_);
    if (s.watch_pool) watcher_ = std::make_unique<PoolWatcher>(*engine_->supplier("cam"));
    ASSERT_TRUE(wait_until(
        [&] {
          auto h = honest();
          return h && h->state == PipelineState::kRunning && h->results >= 5;
        },
        Duration::seconds(20)))
        << "honest pipeline: " << describe(honest());
    ASSERT_TRUE(wait_until([&] { return engine_->report("cam")->output.encoded > 5; },
                           Duration::seconds(15)));
    auto c = RtspTestClient::start(engine_->report("cam")->output_url);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    client_ = std::move(c).value();
    ASSERT_TRUE(wait_until([&] { return client_->frames().size() >= 10; }, Duration::seconds(15)))
        << "the RTSP client received no video: " << client_->error();
  }

  // The baseline is in: lets the hostile program start (it waits for FILE.go) and waits until
  // it has ("attacking" in its report; the handshake modes attack at once).
  void begin_attack() {
    std::ofstream(report_path_ + ".go") << "go\n";
    ASSERT_TRUE(wait_report("attacking", Duration::seconds(10)))
        << "the hostile program never started its attack; report:\n"
        << report() << "\nhostile: " << describe(hostile());
  }
  void begin(const Scenario& s) {
    ASSERT_NO_FATAL_FAILURE(start(s));
    ASSERT_NO_FATAL_FAILURE(begin_attack());
  }

  std::optional<PipelineStats> honest() const { return sampler_->pipeline("honest"); }
  std::optional<PipelineStats> hostile() const { return sampler_->pipeline("hostile"); }

  std::string report(const std::string& path = "") const {
    std::ifstream f(path.empty() ? report_path_ : path);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }
  bool wait_report(const std::string& needle, Duration limit) const {
    return wait_until([&] { return report().find(needle) != std::string::npos; }, limit);
  }

  // The misbehaviour window: from now until the client has received a picture kWindow later.
  // `during` runs at every poll (20 ms) of the wait.
  Window observe(const std::function<void()>& during = {}) {
    Window w;
    w.honest0 = *honest();
    w.hostile0 = hostile();
    w.capture0 = engine_->report("cam")->capture;
    sampler_->reset();
    w.t0 = now();
    const Timestamp end = w.t0 + kWindow;
    wait_until(
        [&] {
          if (during) during();
          const auto f = client_->frames();
          return !f.empty() && f.back().arrival >= end;
        },
        kWindow + Duration::seconds(5));
    w.t1 = end;
    w.longest_stats_call = sampler_->longest_call();
    w.honest1 = *honest();
    w.hostile1 = hostile();
    w.capture1 = engine_->report("cam")->capture;
    for (const auto& f : client_->frames())
      if (f.arrival >= w.t0 && f.arrival <= w.t1) w.frames.push_back(f);
    return w;
  }

  // Everything that must hold for the honest pipeline, the output and the engine.
  void expect_isolated(const Window& w) {
    const double secs = (w.t1 - w.t0).as_seconds();
    // The engine answers.
    EXPECT_LT(w.longest_stats_call.as_seconds(), 1.0)
        << "Engine::pipelines() blocked for " << w.longest_stats_call.as_seconds()
        << " s: the supervisor thread was held up by the hostile worker";
    // The honest pipeline keeps producing, with the same process.
    EXPECT_EQ(w.honest1.pid, w.honest0.pid) << "the honest worker was replaced";
    EXPECT_EQ(w.honest1.restarts, w.honest0.restarts) << describe(w.honest1);
    EXPECT_GE(static_cast<double>(w.honest1.results - w.honest0.results), 0.5 * kFps * secs)
        << "the honest pipeline's results slowed down: " << w.honest0.results << " -> "
        << w.honest1.results << " in " << secs << " s";
    EXPECT_LT(w.honest1.last_result_age.as_seconds(), 1.0) << describe(w.honest1);
    // Capture runs and loses nothing (no pool exhaustion).
    EXPECT_EQ(w.capture1.state, media::StreamState::kLive) << w.capture1.last_error;
    EXPECT_EQ(w.capture1.dropped, w.capture0.dropped) << "capture found the frame pool exhausted";
    // The output keeps the input's rate: >= 90 % of the frames, no gap above 4 intervals.
    EXPECT_EQ(client_->error(), "");
    EXPECT_GE(static_cast<double>(w.frames.size()), 0.9 * kFps * secs)
        << "output fps " << static_cast<double>(w.frames.size()) / secs << " of " << kFps;
    Duration gap;
    Timestamp prev = w.t0;
    uint64_t prev_seq = 0;
    for (const auto& f : w.frames) {
      gap = std::max(gap, f.arrival - prev);
      prev = f.arrival;
      if (f.sequence) {
        EXPECT_GT(*f.sequence, prev_seq) << "output picture repeated or out of order";
        prev_seq = *f.sequence;
      }
    }
    gap = std::max(gap, w.t1 - prev);
    EXPECT_LE(gap.as_millis(), 4 * 1000 / kFps)
        << "the output stalled for " << gap.as_millis() << " ms";
  }

  // The hostile pipeline counted `code` and names it in last_error.
  void expect_violation(const std::string& code, Duration limit = Duration::seconds(4)) {
    const bool ok = wait_until(
        [&] {
          auto p = hostile();
          return p && count(p->violations, code) > 0 &&
                 p->last_error.find(code) != std::string::npos;
        },
        limit);
    EXPECT_TRUE(ok) << "expected violation '" << code << "': " << describe(hostile());
  }
  // The hostile pipeline's worker was ended with restart reason `reason`.
  void expect_restarted_for(const std::string& reason, Duration limit = Duration::seconds(6)) {
    const bool ok = wait_until(
        [&] {
          auto p = hostile();
          return p && count(p->restart_reasons, reason) > 0;
        },
        limit);
    EXPECT_TRUE(ok) << "expected restart reason '" << reason << "': " << describe(hostile());
  }

  // The newest result of `pipeline` on `stream` in the engine's ResultStore.
  std::optional<DetectionResult> stored(const std::string& pipeline, StreamId stream = kCam) {
    for (auto& r : engine_->results().latest(stream))
      if (r.pipeline == pipeline) return r;
    return std::nullopt;
  }

  std::string dir_, report_path_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<StatsSampler> sampler_;
  std::unique_ptr<PoolWatcher> watcher_;
  std::unique_ptr<RtspTestClient> client_;
};

// ---- control ------------------------------------------------------------------------------------

// The harness itself: the hand-written program in "honest" mode is a correct worker. It must
// never be marked, and its own counts must equal the engine's (a conservation check against a
// worker that is not Orion's).
TEST_F(HostileWorker, AnHonestHandWrittenWorkerIsNeverMarkedAndItsCountsMatchTheEngines) {
  orion::testing::Watchdog dog(Duration::seconds(90), "honest control");
  ASSERT_NO_FATAL_FAILURE(start({.mode = "honest", .pattern = "white", .watch_pool = true}));
  const Window w = observe();
  expect_isolated(w);
  const auto h = *hostile();
  EXPECT_TRUE(h.violations.empty()) << describe(h);
  EXPECT_EQ(h.restarts, 0u) << describe(h);
  EXPECT_EQ(h.last_error, "");
  EXPECT_GT(h.results, 0u);
  EXPECT_GT(watcher_->checked(), 0u);
  EXPECT_EQ(watcher_->scribbled(), 0u);
  EXPECT_EQ(watcher_->zeroed(), 0u) << "the white pattern has no zero bytes: the check is wrong";
  engine_->stop();
  const std::string r = report();
  const size_t at = r.find("final taken=");
  ASSERT_NE(at, std::string::npos) << r;
  uint64_t taken = 0, sent = 0;
  ASSERT_EQ(
      std::sscanf(r.c_str() + at, "final taken=%" SCNu64 " results_sent=%" SCNu64, &taken, &sent),
      2)
      << r;
  const PipelineStats p = *testing::find_pipeline(*engine_, "hostile");
  EXPECT_EQ(p.state, PipelineState::kStopped);
  EXPECT_EQ(p.taken, taken) << "engine's taken vs the worker's own count";
  EXPECT_EQ(p.results + p.bad_results, sent) << "engine's results vs the worker's sent";
  EXPECT_EQ(p.offered, p.taken + p.dropped + p.pending);
}

// Conservation (issue 9 item 4): the real `orion worker`, behind a relay that records its final
// "stopped" line, took exactly the frames the engine says it took and sent exactly the results
// the engine received.
TEST_F(HostileWorker, OrionWorkersOwnCountsEqualTheEnginesCountersAfterACleanStop) {
  orion::testing::Watchdog dog(Duration::seconds(90), "conservation");
  ASSERT_NO_FATAL_FAILURE(start({.mode = "", .relay_honest = true}));
  const Window w = observe();
  expect_isolated(w);
  engine_->stop();
  const std::string r = report(dir_ + "/relay.log");
  const size_t at = r.find("stopped-line ");
  ASSERT_NE(at, std::string::npos) << "no stopped line relayed:\n" << r;
  const std::string line = r.substr(at, r.find('\n', at) - at);
  auto field = [&](const char* key) -> uint64_t {
    const std::string k = std::string("\"") + key + "\":";
    const size_t p = line.find(k);
    EXPECT_NE(p, std::string::npos) << key << " missing in " << line;
    return p == std::string::npos ? 0 : std::stoull(line.substr(p + k.size()));
  };
  const uint64_t frames = field("frames"), errors = field("errors"), sent = field("results_sent");
  const PipelineStats p = *testing::find_pipeline(*engine_, "honest");
  EXPECT_EQ(p.state, PipelineState::kStopped);
  EXPECT_EQ(errors, 0u) << line;
  EXPECT_GT(frames, static_cast<uint64_t>(kFps));
  EXPECT_EQ(p.taken, frames) << "engine taken vs the worker's frames: " << line;
  EXPECT_EQ(p.results, sent) << "engine results vs the worker's results_sent: " << line;
  EXPECT_EQ(p.bad_results, 0u);
  EXPECT_EQ(p.offered, p.taken + p.dropped + p.pending);
}

// ---- the control channel ----------------------------------------------------------------------

TEST_F(HostileWorker, GarbageControlLinesAreCountedAndTheWorkerIsEndedAsMisbehaved) {
  orion::testing::Watchdog dog(Duration::seconds(90), "garbage lines");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "garbage-lines"}));
  expect_isolated(observe());
  expect_violation("protocol.bad_line");
  expect_restarted_for("misbehaved");
}

TEST_F(HostileWorker, AControlLineOfEightMebibytesIsRefusedWithoutHarm) {
  orion::testing::Watchdog dog(Duration::seconds(90), "long line");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "long-line"}));
  expect_isolated(observe());
  expect_violation("protocol.line_too_long");
}

TEST_F(HostileWorker, AFloodOfControlLinesIsCutOffAndTheWorkerIsEndedAsMisbehaved) {
  orion::testing::Watchdog dog(Duration::seconds(90), "stdout flood");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "stdout-flood"}));
  expect_isolated(observe());
  expect_violation("protocol.flood");
  expect_restarted_for("misbehaved");
}

TEST_F(HostileWorker, AHelloWithoutAVersionFailsThePipeline) {
  orion::testing::Watchdog dog(Duration::seconds(90), "no version");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "no-version"}));
  expect_isolated(observe());
  expect_violation("protocol.missing_version");
  expect_restarted_for("failed");
  EXPECT_EQ(hostile()->state, PipelineState::kFailed) << describe(hostile());
  EXPECT_EQ(hostile()->results, 0u);
}

TEST_F(HostileWorker, AHelloWithAnotherVersionFailsThePipeline) {
  orion::testing::Watchdog dog(Duration::seconds(90), "wrong version");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "wrong-version"}));
  expect_isolated(observe());
  expect_violation("protocol.mismatch");
  expect_restarted_for("failed");
  EXPECT_EQ(hostile()->state, PipelineState::kFailed) << describe(hostile());
  EXPECT_EQ(hostile()->results, 0u);
}

// ---- results ------------------------------------------------------------------------------------

TEST_F(HostileWorker, AFloodOfResultDatagramsIsCutOffAndTheWorkerIsEndedAsMisbehaved) {
  orion::testing::Watchdog dog(Duration::seconds(90), "result flood");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "result-flood"}));
  expect_isolated(observe());
  expect_violation("result.duplicate");
  expect_restarted_for("misbehaved");
}

TEST_F(HostileWorker, BoxesOutsideTheFrameAreDroppedAndBoxesPartlyOutsideAreClamped) {
  orion::testing::Watchdog dog(Duration::seconds(90), "bad boxes");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "bad-boxes"}));
  expect_isolated(observe());
  expect_violation("result.box_out_of_frame");
  // Of the 7 boxes of each result: the fine one, the one partly outside and the one covering
  // the frame stay (clamped); far outside, negative, inverted and zero-width ones are dropped.
  auto r = stored("hostile");
  ASSERT_TRUE(r.has_value()) << describe(hostile());
  EXPECT_EQ(r->detections.size(), 3u) << "sequence " << r->frame.sequence;
  for (const auto& d : r->detections) {
    EXPECT_GE(d.box.x1, 0.f);
    EXPECT_GE(d.box.y1, 0.f);
    EXPECT_LE(d.box.x2, static_cast<float>(kWidth));
    EXPECT_LE(d.box.y2, static_cast<float>(kHeight));
    EXPECT_LT(d.box.x1, d.box.x2);
    EXPECT_LT(d.box.y1, d.box.y2);
  }
}

TEST_F(HostileWorker, NonFiniteCoordinatesAreMalformedResultsAndTheWorkerIsEndedAsMisbehaved) {
  orion::testing::Watchdog dog(Duration::seconds(90), "nan box");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "nan-box"}));
  expect_isolated(observe());
  expect_violation("result.malformed");
  expect_restarted_for("misbehaved");
}

TEST_F(HostileWorker, ResultsWithThousandsOfDetectionsAreKeptCapped) {
  orion::testing::Watchdog dog(Duration::seconds(90), "many detections");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "many-detections"}));
  expect_isolated(observe());
  const std::string log = report();
  size_t results = 0;
  for (size_t at = 0; (at = log.find("sent 3000 detections", at)) != std::string::npos; ++at)
    ++results;
  EXPECT_GE(results * 3000, 100'000u) << "the hostile program sent fewer than 10^5 detections";
  expect_violation("result.too_many_detections");
  auto r = stored("hostile");
  ASSERT_TRUE(r.has_value()) << "no result of the hostile pipeline was kept: "
                             << describe(hostile());
  // Honest results carry one box; a kept result of thousands, capped, carries more.
  EXPECT_GT(r->detections.size(), 1u) << "sequence " << r->frame.sequence;
  EXPECT_LE(r->detections.size(), kDetectionLimit);
}

TEST_F(HostileWorker, AResultDatagramOverTheSizeLimitIsRefused) {
  orion::testing::Watchdog dog(Duration::seconds(90), "oversized result");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "oversized-result"}));
  expect_isolated(observe());
  EXPECT_EQ(report().find("result send"), std::string::npos)
      << "the kernel refused the datagram, the engine was never tested:\n"
      << report();
  expect_violation("result.oversized");
  expect_restarted_for("misbehaved");
}

// Results for sequences 2^63 (beyond the protocol: malformed) and 2^63 - 1 (never offered): on
// the old code one such result made every later one "older" and the
// annotations freeze. The honest results that follow it must be accepted.
TEST_F(HostileWorker, ASequenceOfTwoToTheSixtyThirdDoesNotFreezeTheAnnotations) {
  orion::testing::Watchdog dog(Duration::seconds(90), "huge sequence");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "huge-sequence"}));
  ASSERT_TRUE(wait_report("sent sequences 9223372036854775808", Duration::seconds(10)));
  expect_isolated(observe());
  expect_violation("result.never_offered");
  const bool follows = wait_until(
      [&] {
        auto r = stored("hostile");
        const uint64_t cap = engine_->report("cam")->capture.last_sequence;
        return r && r->frame.sequence <= cap && r->frame.sequence + kFps >= cap;
      },
      Duration::seconds(5));
  auto r = stored("hostile");
  EXPECT_TRUE(follows) << "the hostile pipeline's annotations are stuck at sequence "
                       << (r ? r->frame.sequence : 0) << " while capture is at "
                       << engine_->report("cam")->capture.last_sequence;
}

TEST_F(HostileWorker, ResultsForFramesNeverOfferedAreRefused) {
  orion::testing::Watchdog dog(Duration::seconds(90), "never offered");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "never-offered"}));
  uint64_t ahead = 0, samples = 0;
  expect_isolated(observe([&] {
    auto r = stored("hostile");
    const uint64_t cap = engine_->report("cam")->capture.last_sequence;  // read after r
    ++samples;
    if (r && r->frame.sequence > cap) ++ahead;
  }));
  EXPECT_EQ(ahead, 0u) << "in " << ahead << " of " << samples
                       << " samples the engine held annotations for a frame not captured yet";
  expect_violation("result.never_offered");
  expect_restarted_for("misbehaved");
}

TEST_F(HostileWorker, ResultsCarryingAnotherStreamsIdNeverReachThatStream) {
  orion::testing::Watchdog dog(Duration::seconds(90), "wrong stream");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "wrong-stream", .other_stream = true}));
  bool reached_other = false;
  expect_isolated(observe([&] { reached_other = reached_other || stored("hostile", kOther); }));
  EXPECT_FALSE(reached_other) << "stream 'other' shows the hostile pipeline's annotations";
  expect_violation("result.wrong_stream");
  expect_restarted_for("misbehaved");
}

TEST_F(HostileWorker, ResultsForFramesOfferedButNeverTakenAreRefused) {
  orion::testing::Watchdog dog(Duration::seconds(90), "not leased");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "not-leased"}));
  expect_isolated(observe());
  expect_violation("result.not_leased");
  expect_restarted_for("misbehaved");
}

// ---- shared memory ------------------------------------------------------------------------------

// The pool is the stream's pixels, read by the compositor and every worker. The hostile program
// reopens its read-only fd 3 through /proc/self/fd/3 read-write, then writes with pwrite() and
// through a PROT_WRITE mapping, and tries mprotect on its read-only mapping. The kernel must
// refuse each, so no frame ever carries its signature.
TEST_F(HostileWorker, WritesToThePoolThroughAReopenedDescriptorAreRefused) {
  orion::testing::Watchdog dog(Duration::seconds(90), "pool write");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "pool-write", .pattern = "white", .watch_pool = true}));
  const uint64_t checked0 = watcher_->checked();
  expect_isolated(observe());
  EXPECT_GT(watcher_->checked(), checked0 + static_cast<uint64_t>(kFps));
  EXPECT_EQ(watcher_->scribbled(), 0u) << watcher_->scribbled() << " of " << watcher_->checked()
                                       << " frames carried the hostile worker's writes";
  const std::string r = report();
  for (const char* attempt : {"pool.mprotect", "pool.mmap_fd3_write", "pool.reopen_rdwr"})
    EXPECT_NE(r.find(std::string("result ") + attempt + " "), std::string::npos) << r;
  EXPECT_EQ(r.find("result pool.mprotect ok"), std::string::npos) << r;
  EXPECT_EQ(r.find("result pool.mmap_fd3_write ok"), std::string::npos) << r;
  EXPECT_EQ(r.find("result pool.pwrite ok"), std::string::npos) << r;
  EXPECT_EQ(r.find("result pool.mmap_write ok"), std::string::npos) << r;
}

// ftruncate of the mailbox (fd 4, writable) and of the pool (fd 3, and reopened read-write)
// would make the engine's own mappings fault (SIGBUS) on the next access.
TEST_F(HostileWorker, FtruncateOfTheMailboxOrThePoolIsRefused) {
  orion::testing::Watchdog dog(Duration::seconds(90), "ftruncate");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "ftruncate"}));
  ASSERT_TRUE(wait_report("result pool.reopen_rdwr", Duration::seconds(10))) << report();
  const Window w = observe();
  expect_isolated(w);
  const std::string r = report();
  for (const char* attempt :
       {"mailbox.ftruncate_grow", "mailbox.ftruncate_zero", "pool.ftruncate_fd3"}) {
    EXPECT_NE(r.find(std::string("result ") + attempt + " "), std::string::npos) << r;
    EXPECT_EQ(r.find(std::string("result ") + attempt + " ok"), std::string::npos) << r;
  }
  EXPECT_EQ(r.find("result pool.ftruncate_rdwr ok"), std::string::npos) << r;
  EXPECT_EQ(r.find("truncated: exiting"), std::string::npos) << r;
  // Refused attacks cost the hostile program nothing: it carries on as a worker.
  EXPECT_EQ(w.hostile1->restarts, 0u) << describe(w.hostile1);
  EXPECT_GT(w.hostile1->results, w.hostile0->results) << describe(w.hostile1);
}

// fallocate(PUNCH_HOLE) through a reopened pool fd zeroes pixel pages under every reader.
TEST_F(HostileWorker, PunchingHolesInThePoolIsRefused) {
  orion::testing::Watchdog dog(Duration::seconds(90), "punch hole");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "punch-hole", .pattern = "white", .watch_pool = true}));
  const uint64_t checked0 = watcher_->checked();
  expect_isolated(observe());
  EXPECT_GT(watcher_->checked(), checked0 + static_cast<uint64_t>(kFps));
  EXPECT_EQ(watcher_->zeroed(), 0u) << watcher_->zeroed() << " of " << watcher_->checked()
                                    << " frames had pixels zeroed by the hostile worker";
  const std::string r = report();
  EXPECT_NE(r.find("result pool.reopen_rdwr "), std::string::npos) << r;
  EXPECT_EQ(r.find("result pool.punch_hole ok"), std::string::npos) << r;
}

// The mailbox is the worker's to write, counters included: what the engine reports must not
// come from there. The hostile program sets offered = 2^60 and dropped = 3 and forges offer
// tokens the engine never wrote.
TEST_F(HostileWorker, ScribbledMailboxCountersAndOfferWordDoNotReachTheStatistics) {
  orion::testing::Watchdog dog(Duration::seconds(90), "scribble mailbox");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "scribble-mailbox"}));
  expect_isolated(observe());
  expect_violation("mailbox.scribbled");
  const auto h = *hostile(), o = *honest();
  EXPECT_LE(h.offered, o.offered + 5) << "the hostile pipeline was offered more frames than the "
                                         "stream has: "
                                      << describe(h) << " / honest: " << describe(o);
  EXPECT_LE(h.taken, h.offered) << describe(h);
  EXPECT_LE(h.dropped, h.offered) << describe(h);
  EXPECT_EQ(h.offered, h.taken + h.dropped + h.pending) << describe(h);
}

// ---- leases and health --------------------------------------------------------------------------

TEST_F(HostileWorker, ALeaseHeldForEverWhileHeartbeatsAreAnsweredIsTakenBack) {
  orion::testing::Watchdog dog(Duration::seconds(90), "hold lease");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "hold-lease"}));
  expect_isolated(observe());
  expect_violation("lease.held_too_long");
  expect_restarted_for("hung");
  EXPECT_GE(hostile()->leases_reclaimed, 1u) << describe(hostile());
}

// busy_ms = 2^62 makes `busy_ms * 1'000'000` overflow to 0 today: an inference "running" for
// 146 million years passes the detect_timeout check.
TEST_F(HostileWorker, ABusyTimeThatOverflowsIsStillAHang) {
  orion::testing::Watchdog dog(Duration::seconds(90), "busy overflow");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "busy-overflow"}));
  expect_isolated(observe());
  expect_restarted_for("hung");
}

// ---- processes ----------------------------------------------------------------------------------

// Four children that setsid() (leaving the worker's process group), each with a grandchild,
// all ignoring SIGTERM. Once the worker is dead, none of them may survive.
TEST_F(HostileWorker, ChildrenThatLeaveTheSessionDoNotOutliveTheWorker) {
  orion::testing::Watchdog dog(Duration::seconds(90), "fork children");
  ASSERT_NO_FATAL_FAILURE(begin({.mode = "fork-children"}));
  ASSERT_TRUE(wait_report("forked 4", Duration::seconds(10))) << report();
  ASSERT_TRUE(wait_until([&] { return marked_orphans(dir_).size() == 8; }, Duration::seconds(5)))
      << marked_orphans(dir_).size() << " marked descendants running";
  const Window w = observe();
  expect_isolated(w);
  const PipelineStats before = *hostile();
  ASSERT_GT(before.pid, 0);
  ASSERT_EQ(::kill(before.pid, SIGKILL), 0);
  ASSERT_TRUE(wait_until(
      [&] {
        auto p = hostile();
        return p && p->restarts > before.restarts;
      },
      Duration::seconds(5)))
      << describe(hostile());
  const bool gone = wait_until([&] { return marked_orphans(dir_).empty(); }, Duration::seconds(5));
  EXPECT_TRUE(gone) << marked_orphans(dir_).size()
                    << " descendants of the dead worker still run 5 s after it was reaped";
}

// ---- the per-pipeline worker command
// --------------------------------------------------------------

TEST(PipelineWorker, AWorkerThatIsNotAnExecutableIsRefusedAtCreate) {
  auto cfg = parse_config(
      "streams: [{name: a, url: 'test://ball'}]\nmodels: [{name: m, kind: fake}]\n"
      "pipelines: [{name: p, stream: a, model: m, worker: [./no-such-worker, --x]}]\n",
      "/nonexistent", "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  auto engine = Engine::create(*cfg, testing::worker_engine_options(ORION_BINARY, 1 << 20));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.error().code, "engine.bad_pipeline");
  EXPECT_NE(engine.error().message.find("pipeline 'p'"), std::string::npos)
      << engine.error().message;
  EXPECT_NE(engine.error().message.find("/nonexistent/no-such-worker"), std::string::npos)
      << engine.error().message;
  auto bare = parse_config(
      "streams: [{name: a, url: 'test://ball'}]\nmodels: [{name: m, kind: yolo9000}]\n"
      "pipelines: [{name: p, stream: a, model: m, worker: no-such-worker-on-path}]\n",
      "", "t.yaml");
  ASSERT_TRUE(bare.ok());
  auto e2 = Engine::create(*bare, testing::worker_engine_options(ORION_BINARY, 1 << 20));
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.error().message.find("no-such-worker-on-path"), std::string::npos)
      << e2.error().message;
  EXPECT_NE(e2.error().message.find("PATH"), std::string::npos) << e2.error().message;
}

}  // namespace
}  // namespace orion::engine
