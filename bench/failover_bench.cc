#include "bench/failover_bench.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/percentiles.h"
#include "control/testing/cluster.h"
#include "core/clock.h"
#include "store/testing/postgres_fixture.h"

namespace orion::bench {
namespace {

namespace fs = std::filesystem;
using control::testing::Cluster;
using control::testing::Follower;

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "orion" : p.string();
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Polls `pred` (and every follower) until it holds or `limit` passes.
template <class Pred>
bool until(std::map<std::string, Follower>& followers, Pred pred, double limit_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
  while (std::chrono::steady_clock::now() < end) {
    for (auto& [n, f] : followers) f.poll();
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace

int run_failover_bench(const FailoverBenchOptions& o) {
  if (o.kills < 1 || o.streams < 1 || o.fps < 1 || o.lease_s < 0.5) {
    std::fprintf(stderr,
                 "bench failover: --kills, --streams, --fps must be >= 1, --lease >= 0.5\n");
    return 2;
  }
  auto pg = store::testing::PostgresServer::start();
  if (!pg) {
    std::fprintf(stderr, "bench failover: %s\n", pg.error().to_string().c_str());
    return 1;
  }
  auto db = (*pg)->fresh_database();
  if (!db) {
    std::fprintf(stderr, "bench failover: %s\n", db.error().to_string().c_str());
    return 1;
  }
  const fs::path dir = fs::temp_directory_path() / ("orion_failover_" + std::to_string(::getpid()));
  control::testing::ClusterOptions co;
  co.orion_binary = self_exe();
  co.db_url = *db;
  co.dir = dir;
  co.lease_s = o.lease_s;
  auto cluster = Cluster::start(co);
  if (!cluster) {
    std::fprintf(stderr, "bench failover: %s\n", cluster.error().to_string().c_str());
    return 1;
  }
  Cluster& c = **cluster;
  for (const char* id : {"e1", "e2", "e3"}) {
    if (auto st = c.start_engine(id); !st) {
      std::fprintf(stderr, "bench failover: %s\n", st.error().to_string().c_str());
      return 1;
    }
  }
  if (auto st = c.create_streams(o.streams, "cam", o.fps); !st) {
    std::fprintf(stderr, "bench failover: %s\n", st.error().to_string().c_str());
    return 1;
  }
  std::map<std::string, Follower> followers;
  followers.emplace("cam0", Follower(c, "cam0"));
  Follower& f = followers.at("cam0");
  if (!until(
          followers, [&] { return f.frames() > 5; }, 30)) {
    std::fprintf(stderr, "bench failover: cam0 never played\n");
    return 1;
  }
  std::vector<int64_t> failover_ns;
  for (int k = 0; k < o.kills; ++k) {
    auto serving = c.serving();
    const std::string victim = serving["cam0"].engine;
    const Timestamp kill_at = SteadyClock::instance().now();
    c.kill(victim);
    const bool back = until(
        followers,
        [&] {
          auto a = f.arrivals();
          return !a.empty() && a.back() > kill_at && f.engines_seen().back() != victim;
        },
        o.lease_s + 30);
    if (!back) {
      std::fprintf(stderr, "bench failover: kill %d: cam0 did not come back\n", k + 1);
      return 1;
    }
    const int64_t ns = (f.arrivals().back() - kill_at).count_nanos();
    failover_ns.push_back(ns);
    std::printf("kill %2d: %s SIGKILLed -> cam0 plays from %s after %.0f ms\n", k + 1,
                victim.c_str(), f.engines_seen().back().c_str(), ns / 1e6);
    std::fflush(stdout);
    if (auto st = c.start_engine(victim); !st) {
      std::fprintf(stderr, "bench failover: %s\n", st.error().to_string().c_str());
      return 1;
    }
    // Next kill once every stream is served again and the restarted engine is back in.
    until(
        followers, [&] { return c.serving().size() == static_cast<size_t>(o.streams); }, 30);
  }
  // Handover gap: a fourth engine joins; the stream that moves to it is down for its handover.
  for (int i = 0; i < o.streams; ++i) {
    const std::string s = "cam" + std::to_string(i);
    if (!followers.count(s)) followers.emplace(s, Follower(c, s));
  }
  until(
      followers,
      [&] {
        for (auto& [n, fl] : followers)
          if (fl.frames() < 5) return false;
        return true;
      },
      30);
  const Timestamp join_at = SteadyClock::instance().now();
  if (auto st = c.start_engine("e4"); !st) {
    std::fprintf(stderr, "bench failover: %s\n", st.error().to_string().c_str());
    return 1;
  }
  double handover_ms = -1;
  std::string moved;
  until(
      followers,
      [&] {
        for (auto& [n, fl] : followers) {
          auto a = fl.arrivals();
          if (fl.engines_seen().back() == "e4" && !a.empty() && a.back() > join_at) {
            moved = n;
            return true;
          }
        }
        return false;
      },
      30);
  if (!moved.empty()) {
    until(
        followers, [] { return false; }, 1.0);  // a second of frames after the move
    handover_ms = followers.at(moved).longest_gap(join_at).count_nanos() / 1e6;
  }
  const Summary s = summarize(failover_ns);
  std::printf("\nfailover (SIGKILL -> first frame from the new engine), %d kills, lease %.1f s:\n",
              o.kills, o.lease_s);
  std::printf("  p50 %.0f ms   max %.0f ms   (lease share: p50 = %.2f x lease)\n", s.p50 / 1e3,
              s.max / 1e3, s.p50 / 1e6 / o.lease_s);
  if (!moved.empty())
    std::printf("handover gap during a rebalance (a 4th engine joins; %s moved): %.0f ms\n",
                moved.c_str(), handover_ms);
  else
    std::printf("handover gap: no stream moved to the 4th engine within 30 s\n");
  std::printf("load average: %s\n", loadavg().c_str());
  if (!o.json_path.empty()) {
    nlohmann::json j{{"kills", o.kills},
                     {"lease_s", o.lease_s},
                     {"failover_p50_ms", s.p50 / 1e3},
                     {"failover_max_ms", s.max / 1e3},
                     {"handover_gap_ms", handover_ms},
                     {"loadavg", loadavg()}};
    std::ofstream(o.json_path) << j.dump(2) << "\n";
  }
  cluster->reset();
  fs::remove_all(dir);
  return 0;
}

}  // namespace orion::bench
