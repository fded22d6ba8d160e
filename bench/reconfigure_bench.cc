#include "bench/reconfigure_bench.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/percentiles.h"
#include "control/local_system.h"
#include "media/testing/rtsp_fixtures.h"
#include "store/testing/postgres_fixture.h"

namespace orion::bench {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* kPattern = "test://ball?width=320&height=240&fps=25";

// Polls `cond` every `step` until it holds or `limit` passes (the bench watches other threads'
// state that nothing notifies it of).
template <class F>
bool poll_until(F cond, std::chrono::milliseconds limit,
                std::chrono::milliseconds step = std::chrono::milliseconds(5)) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(step);
  }
  return cond();
}

std::string output_url(httplib::Client& http, const std::string& stream) {
  auto r = http.Get(("/api/v1/streams/" + stream).c_str());
  if (!r || r->status != 200) return "";
  const json j = json::parse(r->body, nullptr, false);
  return j.is_object() && j["output_url"].is_string() ? j["output_url"].get<std::string>() : "";
}

// Starts clients on `url` until one decodes a frame: the time from `t0` to that frame, or -1.
int64_t first_frame_ns(httplib::Client& http, const std::string& stream, Clock::time_point t0) {
  std::unique_ptr<media::testing::RtspTestClient> client;
  int64_t got = -1;
  poll_until(
      [&] {
        if (!client) {
          const std::string url = output_url(http, stream);
          if (url.empty()) return false;
          auto c = media::testing::RtspTestClient::start(url);
          if (!c) return false;
          client = std::move(c.value());
        }
        if (client->ended()) {  // asked before the mount existed: ask again
          client.reset();
          return false;
        }
        const auto frames = client->frames();
        if (frames.empty()) return false;
        got = frames.front().arrival.nanos() -
              std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count();
        return true;
      },
      std::chrono::seconds(30));
  return got;
}

int run_on(const ReconfigureBenchOptions& o, const std::string& db, const std::string& label,
           json& out) {
  auto up = control::LocalSystem::start(control::loopback_options(db));
  if (!up) {
    std::fprintf(stderr, "bench reconfigure: %s\n", up.error().to_string().c_str());
    return 1;
  }
  httplib::Client http((*up)->base_url());
  http.set_read_timeout(10, 0);
  // The steady stream the baseline connects to.
  http.Post("/api/v1/streams", json{{"name", "steady"}, {"url", kPattern}}.dump(),
            "application/json");
  if (first_frame_ns(http, "steady", Clock::now()) < 0) {
    std::fprintf(stderr, "bench reconfigure: the steady stream never played\n");
    return 1;
  }
  std::vector<int64_t> reconfigure, baseline;
  for (int i = 0; i < o.rounds; ++i) {
    const std::string name = "added" + std::to_string(i);
    const auto t0 = Clock::now();
    auto r = http.Post("/api/v1/streams", json{{"name", name}, {"url", kPattern}}.dump(),
                       "application/json");
    if (!r || r->status != 201) {
      std::fprintf(stderr, "bench reconfigure: POST failed\n");
      return 1;
    }
    const int64_t ns = first_frame_ns(http, name, t0);
    if (ns < 0) {
      std::fprintf(stderr, "bench reconfigure: %s never played\n", name.c_str());
      return 1;
    }
    reconfigure.push_back(ns);
    baseline.push_back(first_frame_ns(http, "steady", Clock::now()));
    http.Delete(("/api/v1/streams/" + name).c_str());
    engine::Engine& e = (*up)->engine();
    poll_until([&] { return !e.report(name).has_value(); }, std::chrono::seconds(10));
  }
  const Summary rs = summarize(reconfigure), bs = summarize(baseline);
  std::printf("%-10s  reconfigure (POST → first frame)  p50 %7.0f ms  max %7.0f ms  (n=%zu)\n",
              label.c_str(), rs.p50 / 1e3, rs.max / 1e3, rs.n);
  std::printf(
      "%-10s  baseline (connect → first frame)  p50 %7.0f ms  max %7.0f ms  ratio p50 %.2f\n",
      label.c_str(), bs.p50 / 1e3, bs.max / 1e3, bs.p50 > 0 ? rs.p50 / bs.p50 : 0);
  out[label] = {{"reconfigure_p50_ms", rs.p50 / 1e3},
                {"reconfigure_max_ms", rs.max / 1e3},
                {"baseline_p50_ms", bs.p50 / 1e3},
                {"baseline_max_ms", bs.max / 1e3},
                {"ratio_p50", bs.p50 > 0 ? rs.p50 / bs.p50 : 0},
                {"rounds", rs.n}};
  (*up)->stop();
  return 0;
}

}  // namespace

int run_reconfigure_bench(const ReconfigureBenchOptions& o) {
  spdlog::set_level(spdlog::level::warn);
  std::string templ = (fs::temp_directory_path() / "orion-bench-reconfigure-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    std::fprintf(stderr, "bench reconfigure: cannot create a temp folder\n");
    return 1;
  }
  const fs::path dir = templ;
  json out;
  int rc = 0;
  if (!o.db.empty()) {
    rc = run_on(o, o.db, o.db.rfind("postgresql", 0) == 0 ? "postgresql" : "sqlite", out);
  } else {
    rc = run_on(o, "sqlite://" + (dir / "bench.db").string(), "sqlite", out);
    if (rc == 0 && o.postgres) {
      auto server = store::testing::PostgresServer::start({});
      if (!server) {
        std::fprintf(stderr, "bench reconfigure: %s\n", server.error().to_string().c_str());
        rc = 1;
      } else if (auto url = (*server)->create_database("bench"); !url) {
        rc = 1;
      } else {
        rc = run_on(o, *url, "postgresql", out);
      }
    }
  }
  if (!o.json_path.empty()) std::ofstream(o.json_path) << out.dump(2) << "\n";
  std::error_code ec;
  fs::remove_all(dir, ec);
  return rc;
}

}  // namespace orion::bench
