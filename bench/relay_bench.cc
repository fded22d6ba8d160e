#include "bench/relay_bench.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/percentiles.h"
#include "core/clock.h"
#include "media/testing/rtsp_fixtures.h"

extern char** environ;

namespace orion::bench {
namespace {

namespace fs = std::filesystem;
using media::testing::ReceivedFrame;
using media::testing::RtspSourceFixture;
using media::testing::RtspTestClient;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// CPU seconds (user + system) of a process so far, from /proc/PID/stat; -1 if unreadable.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = all.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("orion") : p.string();
}

struct Child {
  pid_t pid = -1;
  std::string log;
};

Result<Child> spawn(const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  Child c;
  c.log = log;
  const int rc = posix_spawn(&c.pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return make_error("bench.spawn", "cannot start " + args[0] + ": " + std::strerror(rc));
  return c;
}

// SIGTERM, then SIGKILL after 10 s; reaped.
void stop_child(Child& c) {
  if (c.pid <= 0) return;
  ::kill(c.pid, SIGTERM);
  const Timestamp deadline = SteadyClock::instance().now() + Duration::seconds(10);
  int status = 0;
  while (::waitpid(c.pid, &status, WNOHANG) == 0) {
    if (SteadyClock::instance().now() > deadline) {
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  c.pid = -1;
}

std::string tail_of(const std::string& path, size_t bytes = 2000) {
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

struct RunResult {
  std::string system;
  Summary latency;         // glass-to-glass, microseconds
  double cpu_percent = 0;  // of one core
  double out_fps = 0, in_fps = 0;
  uint64_t repeated = 0, unreadable = 0, received = 0;
  // Source pictures never received, between the first and the last one received in the
  // window: exact per code, unlike comparing the two frame rates.
  uint64_t missing = 0;
  std::string missing_at;  // the first few missing codes and when the source stamped them
  // The client's depayloader over the window: RTP sequence numbers skipped (lost after the
  // server's payloader) and pictures out of it (against `received`: lost in the decoder).
  uint64_t rtp_lost = 0, access_units = 0;
  std::string error;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// One run: a fresh child, a client, warm-up, the measured window.
RunResult measure(const std::string& system, const std::vector<std::string>& args,
                  const std::string& url, const std::string& log, const RtspSourceFixture& source,
                  const RelayBenchOptions& o) {
  RunResult r;
  r.system = system;
  auto child = spawn(args, log);
  if (!child) {
    r.error = child.error().to_string();
    return r;
  }
  const Clock& clock = SteadyClock::instance();
  // The client retries until the output exists and sends pictures (the child starts up).
  std::unique_ptr<RtspTestClient> client;
  const Timestamp give_up = clock.now() + Duration::seconds(30);
  while (clock.now() < give_up) {
    auto c = RtspTestClient::start(url, true, o.client_latency_ms);
    if (c) {
      const Timestamp t = clock.now() + Duration::seconds(4);
      while (clock.now() < t && (*c)->frames().empty() && !(*c)->ended())
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!(*c)->frames().empty()) {
        client = std::move(*c);
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!client) {
    r.error =
        system + ": no picture at " + url + " within 30 s; its log ends with:\n" + tail_of(log);
    stop_child(*child);
    return r;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  const double cpu0 = cpu_seconds(child->pid);
  const uint64_t codes0 = source.stamped();
  const media::testing::RtpCounters rtp0 = client->rtp();
  const Timestamp t0 = clock.now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.duration_s));
  const Timestamp t1 = clock.now();
  const uint64_t codes1 = source.stamped();
  const media::testing::RtpCounters rtp1 = client->rtp();
  const double cpu1 = cpu_seconds(child->pid);
  r.rtp_lost = rtp1.lost - rtp0.lost;
  r.access_units = rtp1.access_units - rtp0.access_units;
  const std::vector<ReceivedFrame> frames = client->frames();
  client->stop();
  stop_child(*child);
  const double span = (t1 - t0).as_seconds();
  r.cpu_percent = (cpu1 - cpu0) / span * 100.0;
  r.in_fps = static_cast<double>(codes1 - codes0) / span;
  std::vector<int64_t> ns;
  uint64_t last = 0;
  std::vector<uint64_t> seen;
  for (const auto& f : frames) {
    if (f.arrival < t0 || f.arrival > t1) {
      if (f.sequence) last = std::max(last, *f.sequence);
      continue;
    }
    ++r.received;
    if (!f.sequence) {
      ++r.unreadable;
      continue;
    }
    if (*f.sequence <= last) ++r.repeated;
    last = std::max(last, *f.sequence);
    seen.push_back(*f.sequence);
    if (auto at = source.stamped_at(*f.sequence))
      ns.push_back((f.arrival - *at).count_nanos());
    else
      ++r.unreadable;
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  if (!seen.empty()) r.missing = seen.back() - seen.front() + 1 - seen.size();
  for (size_t i = 1, listed = 0; i < seen.size() && listed < 5; ++i) {
    for (uint64_t code = seen[i - 1] + 1; code < seen[i] && listed < 5; ++code, ++listed) {
      const auto at = source.stamped_at(code);
      char b[64];
      std::snprintf(b, sizeof b, "%s%llu (+%.2f s)", r.missing_at.empty() ? "" : ", ",
                    static_cast<unsigned long long>(code), at ? (*at - t0).as_seconds() : -1.0);
      r.missing_at += b;
    }
  }
  r.out_fps = static_cast<double>(r.received) / span;
  r.latency = summarize(std::move(ns));
  return r;
}

// Orion's encoder settings, from its log line "encoding WxH @ F fps with ENC (K kbit/s)".
bool orion_encoding(const std::string& log, media::testing::RelayEncoding& enc, std::string& line) {
  std::ifstream in(log);
  std::string l;
  const std::regex re(R"(encoding (\d+)x(\d+) @ (\d+) fps with (\S+) \((\d+) kbit/s\))");
  while (std::getline(in, l)) {
    std::smatch m;
    if (std::regex_search(l, m, re)) {
      enc.bitrate_kbps = std::stoi(m[5]);
      enc.key_int_max = std::max(1, std::stoi(m[3]));  // Orion: one key frame per second of its fps
      line = m[0];
      return true;
    }
  }
  return false;
}

}  // namespace

int serve_relay(const RelayBenchOptions& o) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any GStreamer thread starts
  media::testing::RelayEncoding enc;
  enc.bitrate_kbps = o.bitrate_kbps;
  enc.key_int_max = o.key_int_max;
  enc.rtsp_latency_ms = o.relay_latency_ms;
  auto relay = RtspSourceFixture::serve_relay(o.serve_relay_url, enc, o.relay_port);
  if (!relay) {
    std::fprintf(stderr, "relay: %s\n", relay.error().to_string().c_str());
    return 1;
  }
  std::printf("relay of %s at %s (x264enc %d kbit/s, key-int-max %d)\n", o.serve_relay_url.c_str(),
              (*relay)->url().c_str(), enc.bitrate_kbps, enc.key_int_max);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  (*relay)->stop();
  return 0;
}

int run_relay_bench(const RelayBenchOptions& o) {
  if (o.runs < 1 || o.duration_s <= 0 || o.warmup_s < 0 || o.width < 2 || o.height < 2 ||
      o.fps < 1) {
    std::fprintf(
        stderr,
        "bench relay: --runs must be >= 1, --duration > 0, --warmup >= 0, size and fps positive\n");
    return 2;
  }
  auto source = RtspSourceFixture::serve_stamped_pattern(o.width, o.height, o.fps);
  if (!source) {
    std::fprintf(stderr, "bench relay: %s\n", source.error().to_string().c_str());
    return 1;
  }
  std::error_code ec;
  const fs::path dir =
      fs::temp_directory_path() / ("orion-bench-relay-" + std::to_string(::getpid()));
  fs::create_directories(dir, ec);
  const std::string exe = self_exe();
  {
    std::ofstream cfg(dir / "orion.yaml");
    cfg << "streams:\n  - {name: relay, url: \"" << (*source)->url() << "\"}\n";
  }
  const std::string load_before = load_average();
  std::printf(
      "orion bench relay: %dx%d @ %d fps stamped test pattern at %s; %d runs per system, "
      "%.0f s warm-up + %.0f s measured each; load average before: %s\n",
      o.width, o.height, o.fps, (*source)->url().c_str(), o.runs, o.warmup_s, o.duration_s,
      load_before.c_str());
  std::fflush(stdout);

  media::testing::RelayEncoding enc;
  enc.bitrate_kbps = std::clamp(o.width * o.height * o.fps / 10000, 300, 8000);
  enc.key_int_max = o.fps;
  bool have_orion_encoding = false;
  std::string encoding_line;
  std::vector<RunResult> results;
  int run = 0;
  for (int round = 0; round < o.runs; ++round) {
    const bool orion_first = round % 2 == 0;
    for (int k = 0; k < 2; ++k) {
      const bool orion = (k == 0) == orion_first;
      const int port = free_port();
      const std::string log =
          (dir / ("run" + std::to_string(++run) + (orion ? "-orion.log" : "-relay.log"))).string();
      RunResult r;
      if (orion) {
        const std::string db =
            "sqlite://" + (dir / ("orion" + std::to_string(run) + ".db")).string();
        r = measure(
            "orion",
            {exe, "up", "--config", (dir / "orion.yaml").string(), "--db", db, "--rtsp-port",
             std::to_string(port), "--http-port", "0", "--media-port", "0", "--quiet"},
            "rtsp://127.0.0.1:" + std::to_string(port) + "/relay", log, **source, o);
        if (!have_orion_encoding) have_orion_encoding = orion_encoding(log, enc, encoding_line);
      } else {
        r = measure("relay",
                    {exe, "bench", "relay", "--serve-relay", (*source)->url(), "--relay-port",
                     std::to_string(port), "--bitrate", std::to_string(enc.bitrate_kbps),
                     "--key-int", std::to_string(enc.key_int_max), "--relay-latency",
                     std::to_string(o.relay_latency_ms)},
                    "rtsp://127.0.0.1:" + std::to_string(port) + "/src", log, **source, o);
      }
      if (!r.error.empty()) {
        std::fprintf(stderr, "bench relay: %s\n", r.error.c_str());
        fs::remove_all(dir, ec);
        return 1;
      }
      std::printf(
          "  run %2d %-5s  g2g p50 %6.2f  p99 %6.2f  max %6.2f ms  CPU %5.1f %%  fps in %5.2f out "
          "%5.2f  "
          "missing %llu  repeated %llu  unreadable %llu\n",
          run, r.system.c_str(), r.latency.p50 / 1e3, r.latency.p99 / 1e3, r.latency.max / 1e3,
          r.cpu_percent, r.in_fps, r.out_fps, static_cast<unsigned long long>(r.missing),
          static_cast<unsigned long long>(r.repeated),
          static_cast<unsigned long long>(r.unreadable));
      if (!r.missing_at.empty())
        std::printf(
            "         missing codes: %s; client: %llu RTP packets lost, %llu pictures "
            "depayloaded, %llu decoded\n",
            r.missing_at.c_str(), static_cast<unsigned long long>(r.rtp_lost),
            static_cast<unsigned long long>(r.access_units),
            static_cast<unsigned long long>(r.received));
      std::fflush(stdout);
      results.push_back(r);
    }
  }
  const std::string load_after = load_average();
  struct Med {
    double p50, p99, max, cpu, in_fps, out_fps;
    uint64_t missing, repeated, unreadable;
  };
  auto med = [&](const std::string& sys) {
    std::vector<double> p50, p99, mx, cpu, in, out;
    Med m{};
    for (const auto& r : results) {
      if (r.system != sys) continue;
      p50.push_back(r.latency.p50 / 1e3);
      p99.push_back(r.latency.p99 / 1e3);
      mx.push_back(r.latency.max / 1e3);
      cpu.push_back(r.cpu_percent);
      in.push_back(r.in_fps);
      out.push_back(r.out_fps);
      m.missing += r.missing;
      m.repeated += r.repeated;
      m.unreadable += r.unreadable;
    }
    m.p50 = median(p50);
    m.p99 = median(p99);
    m.max = median(mx);
    m.cpu = median(cpu);
    m.in_fps = median(in);
    m.out_fps = median(out);
    return m;
  };
  const Med a = med("orion"), b = med("relay");
  std::printf(
      "\nmedians of %d runs each (relay: rtspsrc latency %d ms, x264enc %d kbit/s, key-int-max "
      "%d%s%s; "
      "client rtspsrc latency %d ms)\n",
      o.runs, o.relay_latency_ms, enc.bitrate_kbps, enc.key_int_max,
      have_orion_encoding ? ", Orion's own: " : "", encoding_line.c_str(), o.client_latency_ms);
  std::printf(
      "| system | g2g p50 ms | g2g p99 ms | g2g max ms | CPU %% of a core | fps in | fps out | "
      "missing (all runs) | repeated | unreadable |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (auto [name, m] : {std::pair{"orion up", a}, std::pair{"gst relay", b}})
    std::printf(
        "| %s | %.2f | %.2f | %.2f | %.1f | %.2f | %.2f | %llu | %llu | %llu |\n", name, m.p50,
        m.p99, m.max, m.cpu, m.in_fps, m.out_fps, static_cast<unsigned long long>(m.missing),
        static_cast<unsigned long long>(m.repeated), static_cast<unsigned long long>(m.unreadable));
  const double r50 = b.p50 > 0 ? a.p50 / b.p50 : 0, r99 = b.p99 > 0 ? a.p99 / b.p99 : 0,
               rcpu = b.cpu > 0 ? a.cpu / b.cpu : 0;
  // Output fps = input: every source picture of the window came out, exactly (0 missing).
  const bool all_out = a.missing == 0;
  std::printf(
      "| Orion/relay | %.2f (goal <= 1.2: %s) | %.2f (goal <= 1.3: %s) | | %.2f (goal <= 1.2: %s) "
      "| | "
      "| out = in (0 missing): %s | 0 repeated: %s | |\n",
      r50, r50 <= 1.2 ? "yes" : "no", r99, r99 <= 1.3 ? "yes" : "no", rcpu,
      rcpu <= 1.2 ? "yes" : "no", all_out ? "yes" : "no", a.repeated == 0 ? "yes" : "no");
  std::printf("load average before %s, after %s\n", load_before.c_str(), load_after.c_str());
  if (!o.json_path.empty()) {
    std::ofstream j(o.json_path);
    j << "{\"runs\":" << o.runs << ",\"load_before\":\"" << load_before << "\",\"load_after\":\""
      << load_after << "\",\"orion\":{\"p50_ms\":" << a.p50 << ",\"p99_ms\":" << a.p99
      << ",\"cpu_percent\":" << a.cpu << ",\"fps_in\":" << a.in_fps << ",\"fps_out\":" << a.out_fps
      << ",\"missing\":" << a.missing << ",\"repeated\":" << a.repeated
      << "},\"relay\":{\"p50_ms\":" << b.p50 << ",\"p99_ms\":" << b.p99
      << ",\"cpu_percent\":" << b.cpu << ",\"fps_in\":" << b.in_fps << ",\"fps_out\":" << b.out_fps
      << ",\"missing\":" << b.missing << ",\"repeated\":" << b.repeated
      << "},\"ratios\":{\"p50\":" << r50 << ",\"p99\":" << r99 << ",\"cpu\":" << rcpu << "}}\n";
  }
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace orion::bench
