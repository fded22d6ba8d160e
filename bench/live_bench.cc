#include "bench/live_bench.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "core/clock.h"
#include "engine/engine.h"
#include "engine/media_endpoint.h"
#include "http/websocket.h"

namespace orion::bench {

namespace {

double process_cpu_s() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double thread_cpu_s() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double load_average() {
  double l = 0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = 0;
    std::fclose(f);
  }
  return l;
}

struct Row {
  int viewers = 0;
  double engine_cpu_pct = 0;  // of one core
  double extra_per_viewer_pct = 0;
  double frames_per_viewer_s = 0;
  uint64_t dropped = 0;
  uint64_t encoder_builds = 0;
  std::string error;
};

}  // namespace

int run_live_bench(const LiveBenchOptions& o) {
  spdlog::set_level(spdlog::level::warn);
  engine::Config cfg;
  const std::string url = "test://ball?width=" + std::to_string(o.width) +
                          "&height=" + std::to_string(o.height) + "&fps=25";
  cfg.streams.push_back({"cam", url, true, true});
  engine::EngineOptions eo;
  eo.rtsp_port = 0;
  eo.rtsp_address = "127.0.0.1";
  auto e = engine::Engine::create(cfg, eo);
  if (!e) {
    std::fprintf(stderr, "orion bench live: %s\n", e.error().to_string().c_str());
    return 1;
  }
  if (auto s = (*e)->start(); !s) {
    std::fprintf(stderr, "orion bench live: %s\n", s.error().to_string().c_str());
    return 1;
  }
  engine::Engine* eng = e->get();
  engine::MediaSources src;
  src.snapshot = [eng](const std::string& n) { return eng->snapshot(n); };
  src.live = [eng](const std::string& n) { return eng->live_output(n); };
  engine::MediaEndpointOptions mo;
  mo.port = 0;
  engine::MediaEndpoint endpoint(mo, std::move(src));
  if (auto s = endpoint.start(); !s) {
    std::fprintf(stderr, "orion bench live: %s\n", s.error().to_string().c_str());
    return 1;
  }
  const auto live_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!eng->snapshot("cam") && std::chrono::steady_clock::now() < live_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!eng->snapshot("cam")) {
    std::fprintf(stderr, "orion bench live: the test stream shows no picture\n");
    return 1;
  }
  std::vector<int> counts = {0};
  for (int v : o.viewers)
    if (v > 0) counts.push_back(v);
  std::vector<Row> rows;
  for (int n : counts) {
    Row row;
    row.viewers = n;
    std::atomic<bool> stop{false};
    std::atomic<bool> measuring{false};
    std::atomic<uint64_t> frames{0};
    std::atomic<double> client_cpu{0};
    std::vector<std::thread> clients;
    std::atomic<int> connected{0}, failed{0};
    for (int i = 0; i < n; ++i) {
      clients.emplace_back([&] {
        auto c =
            http::WebSocketClient::connect("127.0.0.1", endpoint.port(), "/media/streams/cam/live");
        if (!c || !(*c)->upgraded()) {
          ++failed;
          return;
        }
        ++connected;
        double cpu_at_start = -1;
        while (!stop.load()) {
          if (measuring.load() && cpu_at_start < 0) cpu_at_start = thread_cpu_s();
          auto m = (*c)->connection().read(Duration::millis(200));
          if (m && m->opcode == http::WsOpcode::kBinary && measuring.load()) ++frames;
        }
        if (cpu_at_start >= 0) {
          double cur = client_cpu.load();
          while (!client_cpu.compare_exchange_weak(cur, cur + thread_cpu_s() - cpu_at_start)) {
          }
        }
      });
    }
    while (connected + failed < n) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
    const auto before = endpoint.live_stats();
    const double c0 = process_cpu_s();
    const auto t0 = std::chrono::steady_clock::now();
    measuring = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
    measuring = false;
    const double c1 = process_cpu_s();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stop = true;
    for (auto& t : clients) t.join();
    const auto after = endpoint.live_stats();
    // The clients' CPU of the window is taken out (a client thread's CPU after the window,
    // until it saw `stop`, is at most one 200 ms read: counted to the clients, conservative).
    row.engine_cpu_pct = 100.0 * (c1 - c0 - client_cpu.load()) / wall;
    row.frames_per_viewer_s = n > 0 ? static_cast<double>(frames.load()) / n / wall : 0;
    row.dropped = after.frames_dropped - before.frames_dropped;
    row.encoder_builds = eng->report("cam")->output.encoder_builds;
    if (failed > 0) row.error = std::to_string(failed.load()) + " viewers could not connect";
    rows.push_back(row);
  }
  const double base = rows.front().engine_cpu_pct;
  for (auto& r : rows)
    if (r.viewers > 0) r.extra_per_viewer_pct = (r.engine_cpu_pct - base) / r.viewers;
  std::printf(
      "orion bench live: one %dx%d 25 fps stream (x264, one encode), %.0f s per row, "
      "load average %.1f\n",
      o.width, o.height, o.seconds, load_average());
  std::printf("%8s %14s %22s %16s %8s %8s\n", "viewers", "engine CPU %", "extra CPU %/viewer",
              "frames/s/viewer", "dropped", "encoders");
  for (const auto& r : rows) {
    std::printf("%8d %14.1f %22.2f %16.1f %8llu %8llu %s\n", r.viewers, r.engine_cpu_pct,
                r.extra_per_viewer_pct, r.frames_per_viewer_s,
                static_cast<unsigned long long>(r.dropped),
                static_cast<unsigned long long>(r.encoder_builds), r.error.c_str());
  }
  std::printf("(CPU %% of one core; baseline = 0 viewers in the same run)\n");
  if (!o.json_path.empty()) {
    std::ofstream j(o.json_path);
    j << "[";
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      j << (i ? "," : "") << "{\"viewers\":" << r.viewers
        << ",\"engine_cpu_pct\":" << r.engine_cpu_pct
        << ",\"extra_per_viewer_pct\":" << r.extra_per_viewer_pct
        << ",\"frames_per_viewer_s\":" << r.frames_per_viewer_s << ",\"dropped\":" << r.dropped
        << ",\"encoder_builds\":" << r.encoder_builds << "}";
    }
    j << "]\n";
  }
  endpoint.stop();
  (*e)->stop();
  bool ok = true;
  for (const auto& r : rows) ok = ok && r.error.empty() && r.encoder_builds == 1;
  return ok ? 0 : 1;
}

}  // namespace orion::bench
