// Scale-out from outside (issue 11, docs/design/scale_out.md): `orion engine` processes sharing
// the streams of one PostgreSQL database (a server this test starts) through fenced leases,
// watched with real RTSP clients and through `orion api`.
//   - Three engines, six streams: every stream served by exactly one engine (the others' RTSP
//     servers do not have it), at the camera's fps; the API and /metrics say who owns what.
//     SIGKILL one engine: its streams play again from the others within lease + reconnect.
//   - SIGSTOP an engine past its lease, SIGCONT: it stops by itself, never serves the streams
//     it lost, and no row it could write is accepted (epochs of the rows).
//   - A fourth engine joins: it takes a share, one stream moving at a time; no other stream
//     is interrupted and the moved one is down only for its handover.
//   - `orion engine --drain` on SIGTERM: its streams move one at a time, then it exits cleanly.
// Streams are small test patterns (160x120 at 10 fps) without pipelines: CPU-light.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "api/testing/api_client.h"
#include "control/testing/cluster.h"
#include "core/clock.h"
#include "media/testing/rtsp_fixtures.h"
#include "store/testing/postgres_fixture.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must name the orion executable"
#endif

namespace orion::control {
namespace {

namespace fs = std::filesystem;
using api::testing::ApiClient;
using media::testing::RtspTestClient;
using nlohmann::json;
using orion::testing::wait_until;
using testing::Cluster;
using testing::Follower;
using testing::Serving;

constexpr int kFps = 10;
constexpr double kLeaseS = 2;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::map<std::string, int> per_engine(const std::map<std::string, Serving>& s) {
  std::map<std::string, int> n;
  for (const auto& [stream, v] : s) ++n[v.engine];
  return n;
}

class ScaleOut : public ::testing::Test {
 protected:
  void SetUp() override {
    ORION_REQUIRE_POSTGRES(pg);
    auto db = pg->fresh_database();
    ASSERT_TRUE(db.ok()) << db.error().to_string();
    dir_ = fs::temp_directory_path() /
           ("orion_scale_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    testing::ClusterOptions o;
    o.orion_binary = ORION_BINARY;
    o.db_url = *db;
    o.dir = dir_;
    o.lease_s = kLeaseS;
    auto c = Cluster::start(o);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    cluster_ = std::move(*c);
  }
  void TearDown() override {
    api_.reset();
    cluster_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  void start_engines(std::initializer_list<const char*> ids) {
    for (const char* id : ids) {
      auto st = cluster_->start_engine(id);
      ASSERT_TRUE(st.ok()) << st.error().to_string();
    }
  }

  // Waits until `n` streams are served; returns them.
  std::map<std::string, Serving> served(size_t n, Duration limit = Duration::seconds(30)) {
    std::map<std::string, Serving> s;
    wait_until(
        [&] {
          s = cluster_->serving();
          return s.size() == n;
        },
        limit, Duration::millis(50));
    return s;
  }

  std::string logs() {
    std::string out;
    for (const char* id : {"e1", "e2", "e3", "e4"})
      if (auto* p = cluster_->engine(id)) out += std::string("--- ") + id + "\n" + p->output();
    return out;
  }

  fs::path dir_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<orion::testing::Program> api_;
};

TEST_F(ScaleOut, ThreeEnginesServeSixStreamsEachByExactlyOneAndAKilledEnginesStreamsMove) {
  orion::testing::Watchdog dog(Duration::seconds(120), "three engines, six streams");
  start_engines({"e1", "e2", "e3"});
  ASSERT_TRUE(cluster_->create_streams(6, "cam", kFps).ok());
  auto serving = served(6);
  ASSERT_EQ(serving.size(), 6u) << logs();
  EXPECT_EQ(per_engine(serving), (std::map<std::string, int>{{"e1", 2}, {"e2", 2}, {"e3", 2}}));

  // Each output plays at the camera's fps, read by a real RTSP client. A client that joins
  // first gets the few pictures the output had queued (capture appsink and compositor queue,
  // ADR 0090) in a burst; the rate is read over the frames after them.
  constexpr size_t kBurst = 15, kRead = 30;
  std::map<std::string, std::unique_ptr<RtspTestClient>> clients;
  for (const auto& [stream, s] : serving) {
    auto c = RtspTestClient::start(s.output_url);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    clients[stream] = std::move(*c);
  }
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto& [n, c] : clients)
          if (c->frames().size() < kBurst + kRead) return false;
        return true;
      },
      Duration::seconds(30)))
      << logs();
  for (auto& [stream, c] : clients) {
    const auto f = c->frames();
    const size_t last = f.size() - 1;
    const double fps = (last - kBurst) / (f[last].arrival - f[kBurst].arrival).as_seconds();
    const double start = kBurst / (f[kBurst].arrival - f[0].arrival).as_seconds();
    std::printf("%s on %s: %.1f fps read (first %zu frames at %.1f fps)\n", stream.c_str(),
                serving[stream].engine.c_str(), fps, kBurst, start);
    EXPECT_NEAR(fps, kFps, 2.0) << stream;
  }
  // Exactly one engine serves each: the other engines' RTSP servers do not have it.
  const auto bases = cluster_->rtsp_bases();
  for (const auto& [stream, s] : serving) {
    for (const auto& [engine, base] : bases) {
      if (engine == s.engine) continue;
      auto c = RtspTestClient::start(base + "/" + stream);
      ASSERT_TRUE(c.ok());
      ASSERT_TRUE(wait_until([&] { return (*c)->ended(); }, Duration::seconds(10)))
          << stream << " answered on " << engine;
      EXPECT_TRUE((*c)->frames().empty()) << stream << " also served by " << engine;
    }
  }

  // The API and /metrics say the same.
  auto api = orion::testing::Program::start(
      {ORION_BINARY, "api", "--db", cluster_->options().db_url, "--http-port", "0", "--quiet"},
      dir_ / "api.log");
  ASSERT_TRUE(api.ok());
  api_ = std::move(*api);
  auto url = api_->wait_for(std::regex(R"(serving (http://127\.0\.0\.1:[0-9]+)/api/v1)"),
                            Duration::seconds(20));
  ASSERT_TRUE(url) << api_->output();
  ApiClient client(*url);
  auto engines = client.get("/api/v1/engines");
  ASSERT_EQ(engines.status, 200) << engines.body;
  ASSERT_EQ(engines.json["engines"].size(), 3u);
  for (const auto& e : engines.json["engines"]) {
    EXPECT_EQ(e["state"], "running") << e.dump();
    EXPECT_EQ(e["streams_held"], 2) << e.dump();
    EXPECT_TRUE(e["rtsp_url"].is_string());
    EXPECT_LT(e["heartbeat_age_s"].get<double>(), kLeaseS) << e.dump();
  }
  for (const auto& [stream, s] : serving) {
    auto a = client.get("/api/v1/streams/" + stream);
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(a.json["owner_engine"], s.engine) << a.body;
    EXPECT_EQ(a.json["output_url"], s.output_url) << a.body;
  }
  auto metrics = client.get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("orion_engine_streams_held{engine=\"e1\"} 2"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("output_url=\"" + serving["cam0"].output_url + "\""),
            std::string::npos)
      << metrics.body;

  // SIGKILL e1: its streams play again from e2/e3 within lease + reconnect.
  std::vector<std::string> moved;
  for (const auto& [stream, s] : serving)
    if (s.engine == "e1") moved.push_back(stream);
  std::map<std::string, Follower> followers;
  for (const auto& [stream, s] : serving) followers.emplace(stream, Follower(*cluster_, stream));
  for (auto& [n, f] : followers) f.poll();
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto& [n, f] : followers) {
          f.poll();
          if (f.frames() < 5) return false;
        }
        return true;
      },
      Duration::seconds(15)));
  const Timestamp kill_at = SteadyClock::instance().now();
  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, double> back_ms;
  ASSERT_TRUE(cluster_->kill("e1"));
  const bool back = wait_until(
      [&] {
        for (auto& [n, f] : followers) f.poll();
        for (const auto& stream : moved) {
          if (back_ms.count(stream)) continue;
          auto a = followers.at(stream).arrivals();
          if (!a.empty() && a.back() > kill_at &&
              followers.at(stream).engines_seen().back() != "e1")
            back_ms[stream] = ms_since(t0);
        }
        return back_ms.size() == moved.size();
      },
      Duration::seconds(30), Duration::millis(10));
  ASSERT_TRUE(back) << logs();
  for (const auto& [stream, ms] : back_ms) {
    std::printf("failover %s: SIGKILL -> first frame from %s after %.0f ms (lease %.0f s)\n",
                stream.c_str(), followers.at(stream).engines_seen().back().c_str(), ms, kLeaseS);
    EXPECT_LT(ms, (kLeaseS + 5) * 1000) << stream << ": more than lease + reconnect";
  }
  // The streams of e2 and e3 played on, untouched.
  for (auto& [stream, f] : followers) {
    if (std::find(moved.begin(), moved.end(), stream) != moved.end()) continue;
    EXPECT_LT(f.longest_gap(kill_at).as_seconds(), 1.0) << stream;
    EXPECT_EQ(f.engines_seen().size(), 1u) << stream;
  }
  EXPECT_TRUE(wait_until([&] { return cluster_->serving().size() == 6; }, Duration::seconds(15)));
}

TEST_F(ScaleOut, APausedEngineNeverServesNorWritesForAStreamItLost) {
  orion::testing::Watchdog dog(Duration::seconds(120), "SIGSTOP past the lease");
  start_engines({"e1", "e2"});
  ASSERT_TRUE(cluster_->create_streams(4, "cam", kFps).ok());
  auto serving = served(4);
  ASSERT_EQ(serving.size(), 4u) << logs();
  std::map<std::string, int64_t> lost_epoch;
  for (const auto& [stream, s] : serving)
    if (s.engine == "e1") lost_epoch[stream] = s.epoch;
  ASSERT_EQ(lost_epoch.size(), 2u);
  const std::string watched = lost_epoch.begin()->first;
  auto old_view = RtspTestClient::start(serving[watched].output_url);
  ASSERT_TRUE(old_view.ok());
  ASSERT_TRUE(wait_until([&] { return (*old_view)->frames().size() > 5; }, Duration::seconds(15)));

  ASSERT_TRUE(cluster_->pause("e1"));
  const auto t0 = std::chrono::steady_clock::now();
  // e2 takes e1's streams once their leases expire.
  ASSERT_TRUE(wait_until(
      [&] {
        auto now = cluster_->serving();
        for (const auto& [stream, epoch] : lost_epoch)
          if (!now.count(stream) || now[stream].engine != "e2") return false;
        return true;
      },
      Duration::seconds(20), Duration::millis(20)))
      << logs();
  std::printf("SIGSTOP e1 -> its streams live on e2 after %.0f ms (lease %.0f s)\n", ms_since(t0),
              kLeaseS);
  for (const auto& [stream, s] : cluster_->serving())
    if (lost_epoch.count(stream)) {
      EXPECT_GT(s.epoch, lost_epoch[stream]) << stream;
    }

  const Timestamp resumed_at = SteadyClock::instance().now();
  ASSERT_TRUE(cluster_->resume("e1"));
  // e1 notices its deadline passed and stops them by itself.
  ASSERT_TRUE(cluster_->engine("e1")->wait_for(std::regex("(lease: no successful renewal)"),
                                               Duration::seconds(5)))
      << logs();
  ASSERT_TRUE(wait_until([&] { return (*old_view)->ended(); }, Duration::seconds(10)))
      << "the old viewer still plays from e1";
  size_t after = 0;
  for (const auto& f : (*old_view)->frames())
    if (f.arrival > resumed_at) ++after;
  std::printf("frames the old viewer got from e1 after SIGCONT: %zu\n", after);
  // Frames e1 had in flight when it was stopped may still arrive; never a new second of video.
  EXPECT_LT(after, static_cast<size_t>(kFps)) << "e1 went on serving a stream it lost";
  const std::string e1_base = cluster_->rtsp_bases()["e1"];
  for (const auto& [stream, epoch] : lost_epoch) {
    auto c = RtspTestClient::start(e1_base + "/" + stream);
    ASSERT_TRUE(c.ok());
    // Usually refused at once (the mount is gone); a DESCRIBE that raced the mount's removal
    // may instead hang without media. Either way, watched for 5 s, not one frame may come.
    wait_until([&] { return (*c)->ended(); }, Duration::seconds(5));
    // Once e1 runs again it is an engine with spare capacity: a rebalance may give it the
    // stream back under a NEW lease (a higher epoch), and then it serves it by right.
    auto owner = cluster_->serving();
    const bool regained =
        owner.count(stream) && owner[stream].engine == "e1" && owner[stream].epoch > epoch;
    if (!regained) {
      EXPECT_TRUE((*c)->frames().empty()) << "e1 serves " << stream << " after losing it\n"
                                          << logs();
    }
  }
  // For two seconds after SIGCONT (two status rounds of e1), no row of a lost stream carries
  // the epoch e1 lost: the rows are e2's (or, once rebalanced, of a newer epoch).
  const auto watch_end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  size_t samples = 0;
  while (std::chrono::steady_clock::now() < watch_end) {
    auto rows = cluster_->store().list_stream_status();
    ASSERT_TRUE(rows.ok());
    for (const auto& r : *rows) {
      if (!lost_epoch.count(r.stream)) continue;
      EXPECT_GT(r.epoch, lost_epoch[r.stream]) << r.stream << " row of " << r.engine_id;
    }
    ++samples;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // sampling rate of the watch
  }
  EXPECT_GT(samples, 10u);
  EXPECT_TRUE(wait_until([&] { return cluster_->serving().size() == 4; }, Duration::seconds(15)));
}

TEST_F(ScaleOut, AFourthEngineJoinsAndOnlyTheMovedStreamPausesForItsHandover) {
  orion::testing::Watchdog dog(Duration::seconds(120), "a fourth engine joins");
  start_engines({"e1", "e2", "e3"});
  ASSERT_TRUE(cluster_->create_streams(6, "cam", kFps).ok());
  auto serving = served(6);
  ASSERT_EQ(serving.size(), 6u) << logs();
  std::map<std::string, Follower> followers;
  for (const auto& [stream, s] : serving) followers.emplace(stream, Follower(*cluster_, stream));
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto& [n, f] : followers) {
          f.poll();
          if (f.frames() < 5) return false;
        }
        return true;
      },
      Duration::seconds(15)));
  const Timestamp join_at = SteadyClock::instance().now();
  start_engines({"e4"});
  // floor(6 / 4) = 1: one stream moves to e4, then the share is fair and nothing else moves.
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto& [n, f] : followers) f.poll();
        auto now = cluster_->serving();
        auto n = per_engine(now);
        if (now.size() != 6 || n["e4"] != 1) return false;
        for (auto& [stream, f] : followers)
          if (now[stream].engine == "e4" && (f.engines_seen().back() != "e4" || f.frames() == 0))
            return false;
        return true;
      },
      Duration::seconds(30), Duration::millis(10)))
      << logs();
  // Watch one more second for frames after the move.
  const auto settle = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  wait_until(
      [&] {
        for (auto& [n, f] : followers) f.poll();
        return std::chrono::steady_clock::now() > settle;
      },
      Duration::seconds(2), Duration::millis(10));
  int moved = 0;
  for (auto& [stream, f] : followers) {
    const double gap = f.longest_gap(join_at).as_seconds();
    if (f.engines_seen().size() > 1) {
      ++moved;
      std::printf("handover %s: %s -> %s, longest gap between frames %.0f ms\n", stream.c_str(),
                  f.engines_seen().front().c_str(), f.engines_seen().back().c_str(), gap * 1000);
      EXPECT_LT(gap, 5.0) << stream << ": down longer than a handover";
    } else {
      EXPECT_LT(gap, 1.0) << stream << " was interrupted though it did not move";
    }
  }
  EXPECT_EQ(moved, 1);
  EXPECT_EQ(per_engine(cluster_->serving()),
            (std::map<std::string, int>{{"e1", 1}, {"e2", 2}, {"e3", 2}, {"e4", 1}}));
}

TEST_F(ScaleOut, ADrainingEngineHandsItsStreamsOverAndExits) {
  orion::testing::Watchdog dog(Duration::seconds(90), "drain");
  for (const char* id : {"e1", "e2"}) {
    auto st = cluster_->start_engine(id, {"--drain"});
    ASSERT_TRUE(st.ok()) << st.error().to_string();
  }
  ASSERT_TRUE(cluster_->create_streams(4, "cam", kFps).ok());
  auto serving = served(4);
  ASSERT_EQ(serving.size(), 4u) << logs();
  ASSERT_EQ(per_engine(serving)["e1"], 2);
  std::map<std::string, Follower> followers;
  for (const auto& [stream, s] : serving) followers.emplace(stream, Follower(*cluster_, stream));
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto& [n, f] : followers) {
          f.poll();
          if (f.frames() < 5) return false;
        }
        return true;
      },
      Duration::seconds(15)));
  const Timestamp drain_at = SteadyClock::instance().now();
  // SIGTERM: e1 hands over one stream at a time (--max-moves 1), then exits cleanly.
  ASSERT_EQ(::kill(cluster_->engine("e1")->pid(), SIGTERM), 0);
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto& [n, f] : followers) f.poll();
        auto now = cluster_->serving();
        if (now.size() != 4) return false;
        for (auto& [stream, f] : followers)
          if (now[stream].engine != "e2" || f.engines_seen().back() != "e2") return false;
        return true;
      },
      Duration::seconds(30), Duration::millis(10)))
      << logs();
  EXPECT_EQ(cluster_->engine("e1")->terminate(Duration::seconds(20)), 0) << logs();
  EXPECT_NE(cluster_->engine("e1")->output().find("drained: every stream runs on another engine"),
            std::string::npos)
      << logs();
  for (auto& [stream, f] : followers) {
    const double gap = f.longest_gap(drain_at).as_seconds();
    if (serving[stream].engine == "e1") {
      std::printf("drain %s: e1 -> e2, longest gap %.0f ms\n", stream.c_str(), gap * 1000);
      EXPECT_LT(gap, 5.0) << stream;
    } else {
      EXPECT_LT(gap, 1.0) << stream << " was interrupted though it did not move";
    }
  }
}

}  // namespace
}  // namespace orion::control
