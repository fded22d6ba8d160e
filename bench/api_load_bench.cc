#include "bench/api_load_bench.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "control/local_system.h"
#include "store/testing/postgres_fixture.h"
#include "testing/program.h"

namespace orion::bench {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// POST a disabled pipeline (named by wrk thread and count); DELETE, oldest first, the pipelines
// whose POST was answered 201 (a thread's connections run concurrently, so a DELETE is only sent
// for a name known to exist).
const char* kPostDeleteLua = R"lua(created = {}
codes = {}
threads = {}
counter = 0
prefix = ""
init = function(args)  -- a prefix (wrk ... -- PREFIX) keeps two wrk runs' names apart
  prefix = args[1] or ""
end
setup = function(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)  -- unseeded math.random repeats across threads: names by thread id
end
done = function(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    for k, v in pairs(c) do all[k] = (all[k] or 0) + v end
  end
  for k, v in pairs(all) do io.write("status ", k, ": ", v, "\n") end
end
request = function()
  if #created > 0 then
    return wrk.format("DELETE", "/api/v1/pipelines/" .. table.remove(created, 1))
  end
  counter = counter + 1
  local name = "wrk" .. prefix .. id .. "_" .. counter
  return wrk.format("POST", "/api/v1/pipelines", {["Content-Type"] = "application/json"},
    '{"name":"' .. name .. '","stream":"s0","model":"quick","enabled":false}')
end
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
  if status >= 300 then io.write("answer ", status, " ", body, "\n") end
  if status == 201 then
    local name = string.match(body, '"name":"(wrk[0-9]+_[0-9]+)"')
    if name then table.insert(created, name) end
  end
end
)lua";

struct WrkResult {
  double requests_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  uint64_t non_2xx = 0;
  bool ok = false;
  std::string raw;
};

double to_ms(double v, const std::string& unit) {
  if (unit == "us") return v / 1e3;
  if (unit == "s") return v * 1e3;
  return v;  // ms
}

WrkResult run_wrk(const ApiLoadBenchOptions& o, const std::string& url, const std::string& script,
                  int threads = 0, int connections = 0, const std::string& script_arg = "") {
  std::string cmd = o.wrk + " --latency -t" + std::to_string(threads ? threads : o.threads) +
                    " -c" + std::to_string(connections ? connections : o.connections) + " -d" +
                    std::to_string(o.seconds) + "s";
  if (!script.empty()) cmd += " -s " + script;
  cmd += " " + url;
  if (!script_arg.empty()) cmd += " -- " + script_arg;
  cmd += " 2>&1";
  WrkResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) r.raw.append(buf, n);
  const int rc = ::pclose(p);
  std::smatch m;
  if (std::regex_search(r.raw, m, std::regex(R"(Requests/sec:\s+([0-9.]+))")))
    r.requests_per_s = std::stod(m[1]);
  if (std::regex_search(r.raw, m, std::regex(R"(\n\s+50%\s+([0-9.]+)(us|ms|s))")))
    r.p50_ms = to_ms(std::stod(m[1]), m[2]);
  if (std::regex_search(r.raw, m, std::regex(R"(\n\s+99%\s+([0-9.]+)(us|ms|s))")))
    r.p99_ms = to_ms(std::stod(m[1]), m[2]);
  if (std::regex_search(r.raw, m, std::regex(R"(Non-2xx or 3xx responses:\s+([0-9]+))")))
    r.non_2xx = std::stoull(m[1]);
  r.ok = rc == 0 && r.requests_per_s > 0;
  return r;
}

// Output frames of every stream, summed, from the engine's own compositor counters.
std::map<std::string, uint64_t> frames_out(const engine::Engine& e) {
  std::map<std::string, uint64_t> out;
  for (const auto& r : e.report()) out[r.capture.name] = r.compositor.frames;
  return out;
}

// The lowest per-stream output fps between two snapshots `seconds` apart.
double min_fps(const std::map<std::string, uint64_t>& a, const std::map<std::string, uint64_t>& b,
               double seconds) {
  double lowest = -1;
  for (const auto& [name, n] : b) {
    auto it = a.find(name);
    if (it == a.end()) continue;
    const double fps = (n - it->second) / seconds;
    lowest = lowest < 0 ? fps : std::min(lowest, fps);
  }
  return lowest;
}

int run_on(const ApiLoadBenchOptions& o, const std::string& db, const std::string& label,
           const fs::path& dir, json& out) {
  auto up = control::LocalSystem::start(control::loopback_options(db));
  if (!up) {
    std::fprintf(stderr, "bench api: %s\n", up.error().to_string().c_str());
    return 1;
  }
  const std::string base = (*up)->base_url();
  httplib::Client http(base);
  http.Post("/api/v1/models", R"({"name":"quick","kind":"fake"})", "application/json");
  for (int i = 0; i < o.streams; ++i) {
    http.Post(
        "/api/v1/streams",
        json{{"name", "s" + std::to_string(i)}, {"url", "test://ball?width=640&height=480&fps=25"}}
            .dump(),
        "application/json");
  }
  engine::Engine& e = (*up)->engine();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {  // until every stream outputs frames
    auto f = frames_out(e);
    if (static_cast<int>(f.size()) == o.streams &&
        std::all_of(f.begin(), f.end(), [](const auto& kv) { return kv.second > 25; }))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto measure_idle = [&] {
    const auto a = frames_out(e);
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(o.seconds));  // the measuring window itself
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return min_fps(a, frames_out(e), s);
  };
  const double idle_fps = measure_idle();
  std::printf("%-10s  %d streams, no load: lowest output fps %.1f\n", label.c_str(), o.streams,
              idle_fps);
  out[label]["baseline_min_fps"] = idle_fps;

  const fs::path lua = dir / "post_delete.lua";
  std::ofstream(lua) << kPostDeleteLua;
  struct Case {
    const char* name;
    std::string url, script;
  };
  for (const Case& c : {Case{"GET /api/v1/streams", base + "/api/v1/streams", ""},
                        Case{"GET /metrics", base + "/metrics", ""},
                        Case{"POST+DELETE pipelines", base, lua.string()}}) {
    const auto a = frames_out(e);
    const auto t0 = std::chrono::steady_clock::now();
    const WrkResult w = run_wrk(o, c.url, c.script);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double fps = min_fps(a, frames_out(e), s);
    if (!w.ok) {
      std::fprintf(stderr, "bench api: wrk failed for %s:\n%s\n", c.name, w.raw.c_str());
      return 1;
    }
    std::printf(
        "%-10s  %-22s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %llu  output fps %.1f (%.2f "
        "of "
        "baseline)\n",
        label.c_str(), c.name, w.requests_per_s, w.p50_ms, w.p99_ms,
        static_cast<unsigned long long>(w.non_2xx), fps, idle_fps > 0 ? fps / idle_fps : 0);
    if (w.non_2xx > 0) {  // which answers, and one of each (the script prints them)
      std::map<std::string, std::string> first;
      std::istringstream lines(w.raw);
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind("status ", 0) == 0) std::printf("            %s\n", line.c_str());
        if (line.rfind("answer ", 0) == 0) first.emplace(line.substr(7, 3), line);
      }
      for (const auto& [code, line] : first)
        std::printf("            e.g. %s\n", line.substr(0, 300).c_str());
    }
    out[label][c.name] = {{"requests_per_s", w.requests_per_s},
                          {"p50_ms", w.p50_ms},
                          {"p99_ms", w.p99_ms},
                          {"non_2xx", w.non_2xx},
                          {"min_output_fps", fps},
                          {"fps_ratio", fps / idle_fps}};
  }
  (*up)->stop();
  return 0;
}

// Two `orion api` processes on one PostgreSQL database against one (the API is stateless:
// docs/design/db_resilience.md). Both are started from this binary; the same wrk load (threads,
// connections) goes to one process, then is split in halves across the two, run at once, and
// their requests/s summed. No engine runs: this measures the API and the database alone.
int run_api_processes(const ApiLoadBenchOptions& o, const std::string& db, const fs::path& dir,
                      json& out) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    std::fprintf(stderr, "bench api: cannot find this executable: %s\n", ec.message().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<testing::Program>> apis;
  std::vector<std::string> urls;
  for (int i = 0; i < 2; ++i) {
    auto p =
        testing::Program::start({self.string(), "api", "--db", db, "--http-port", "0", "--quiet"},
                                dir / ("api" + std::to_string(i) + ".log"));
    if (!p) {
      std::fprintf(stderr, "bench api: %s\n", p.error().to_string().c_str());
      return 1;
    }
    auto url = (*p)->wait_for(std::regex(R"(serving (http://127\.0\.0\.1:[0-9]+)/api/v1)"),
                              Duration::seconds(30));
    if (!url) {
      std::fprintf(stderr, "bench api: orion api did not start:\n%s\n", (*p)->output().c_str());
      return 1;
    }
    apis.push_back(std::move(*p));
    urls.push_back(*url);
  }
  httplib::Client http(urls[0]);
  http.Post("/api/v1/models", R"({"name":"quick","kind":"fake"})", "application/json");
  for (int i = 0; i < o.streams; ++i)
    http.Post(
        "/api/v1/streams",
        json{{"name", "s" + std::to_string(i)}, {"url", "test://ball"}, {"enabled", false}}.dump(),
        "application/json");
  const fs::path lua = dir / "post_delete.lua";
  std::ofstream(lua) << kPostDeleteLua;
  const int half_c = std::max(1, o.connections / 2), half_t = std::max(1, o.threads / 2);
  struct Case {
    const char* name;
    std::string path, script;
  };
  for (const Case& c : {Case{"GET /api/v1/streams", "/api/v1/streams", ""},
                        Case{"POST+DELETE pipelines", "", lua.string()}}) {
    // Name prefixes 1, 2, 3: no run creates a name another left behind.
    const WrkResult one = run_wrk(o, urls[0] + c.path, c.script, 0, 0, c.script.empty() ? "" : "1");
    WrkResult two[2];
    {
      std::jthread a([&] {
        two[0] =
            run_wrk(o, urls[0] + c.path, c.script, half_t, half_c, c.script.empty() ? "" : "2");
      });
      std::jthread b([&] {
        two[1] =
            run_wrk(o, urls[1] + c.path, c.script, half_t, half_c, c.script.empty() ? "" : "3");
      });
    }
    for (const WrkResult* w : std::initializer_list<const WrkResult*>{&one, &two[0], &two[1]}) {
      if (!w->ok) {
        std::fprintf(stderr, "bench api: wrk failed for %s:\n%s\n", c.name, w->raw.c_str());
        return 1;
      }
    }
    for (const WrkResult* w : std::initializer_list<const WrkResult*>{&one, &two[0], &two[1]}) {
      if (w->non_2xx == 0) continue;  // which answers, one of each (the script prints them)
      std::map<std::string, std::string> first;
      std::istringstream lines(w->raw);
      for (std::string line; std::getline(lines, line);)
        if (line.rfind("answer ", 0) == 0) first.emplace(line.substr(7, 3), line);
      for (const auto& [code, line] : first)
        std::printf("            e.g. %s\n", line.substr(0, 300).c_str());
    }
    const double sum = two[0].requests_per_s + two[1].requests_per_s;
    std::printf(
        "postgresql  %-22s 1 API process %8.0f req/s (p99 %6.2f ms)  2 API processes %8.0f req/s "
        "(%.0f + %.0f, p99 %6.2f / %6.2f ms)  ratio %.2f  non-2xx %llu / %llu\n",
        c.name, one.requests_per_s, one.p99_ms, sum, two[0].requests_per_s, two[1].requests_per_s,
        two[0].p99_ms, two[1].p99_ms, one.requests_per_s > 0 ? sum / one.requests_per_s : 0,
        static_cast<unsigned long long>(one.non_2xx),
        static_cast<unsigned long long>(two[0].non_2xx + two[1].non_2xx));
    out["api_processes"][c.name] = {
        {"one_requests_per_s", one.requests_per_s},
        {"two_requests_per_s", sum},
        {"one_p99_ms", one.p99_ms},
        {"two_p99_ms", std::max(two[0].p99_ms, two[1].p99_ms)},
        {"one_non_2xx", one.non_2xx},
        {"two_non_2xx", two[0].non_2xx + two[1].non_2xx},
        {"ratio", one.requests_per_s > 0 ? sum / one.requests_per_s : 0}};
  }
  for (auto& a : apis) a->terminate(Duration::seconds(10));
  return 0;
}

}  // namespace

int run_api_load_bench(const ApiLoadBenchOptions& o) {
  spdlog::set_level(spdlog::level::warn);
  std::string templ = (fs::temp_directory_path() / "orion-bench-api-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) return 1;
  const fs::path dir = templ;
  json out;
  if (o.api_processes) {  // PostgreSQL only: two API processes against one
    int rc = 1;
    auto server = store::testing::PostgresServer::start({});
    if (!server) {
      std::fprintf(stderr, "bench api: %s\n", server.error().to_string().c_str());
    } else if (auto url = (*server)->create_database("bench_apis"); url) {
      rc = run_api_processes(o, *url, dir, out);
    }
    if (!o.json_path.empty()) std::ofstream(o.json_path) << out.dump(2) << "\n";
    std::error_code ec;
    fs::remove_all(dir, ec);
    return rc;
  }
  int rc = run_on(o, "sqlite://" + (dir / "bench.db").string(), "sqlite", dir, out);
  if (rc == 0 && o.postgres) {
    auto server = store::testing::PostgresServer::start({});
    if (!server) {
      std::fprintf(stderr, "bench api: %s\n", server.error().to_string().c_str());
      rc = 1;
    } else if (auto url = (*server)->create_database("bench"); url) {
      rc = run_on(o, *url, "postgresql", dir, out);
    } else {
      rc = 1;
    }
  }
  if (!o.json_path.empty()) std::ofstream(o.json_path) << out.dump(2) << "\n";
  std::error_code ec;
  fs::remove_all(dir, ec);
  return rc;
}

}  // namespace orion::bench
