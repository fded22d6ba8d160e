#include "bench/e2e_bench.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/percentiles.h"
#include "colour/convert.h"
#include "core/clock.h"
#include "core/frame_pool.h"
#include "core/frame_supplier.h"
#include "engine/engine.h"
#include "infer/registry.h"
#include "media/capture.h"
#include "media/testing/rtsp_fixtures.h"
#include "testing/asset_paths.h"

namespace orion::bench {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Timestamp now() { return SteadyClock::instance().now(); }

struct ProcTimes {
  double cpu_s = 0;
  uint64_t rss = 0;
};

ProcTimes proc_times(int pid) {
  ProcTimes p;
  const std::string base = "/proc/" + (pid > 0 ? std::to_string(pid) : std::string("self"));
  std::ifstream stat(base + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(line.substr(close + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 0; i < 11 && rest >> f; ++i) {
    }
    rest >> utime >> stime;
    p.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  std::ifstream statm(base + "/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  p.rss = resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return p;
}

// Quantile of the samples a histogram gained between two copies (bucket upper bound).
double window_quantile_ms(const engine::LatencyHistogram& a, const engine::LatencyHistogram& b,
                          double q) {
  const auto& bounds = engine::LatencyHistogram::bounds();
  std::vector<uint64_t> d(b.counts().size());
  uint64_t n = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    d[i] = b.counts()[i] - (i < a.counts().size() ? a.counts()[i] : 0);
    n += d[i];
  }
  if (n == 0) return -1;
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(q * static_cast<double>(n) + 0.999999));
  uint64_t seen = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    seen += d[i];
    if (seen >= rank)
      return i < bounds.size() ? std::min(bounds[i] * 1e3, b.max().as_millis())
                               : b.max().as_millis();
  }
  return b.max().as_millis();
}

struct ModelChoice {
  std::string name, kind, path;
  SlaClass sla;
};

std::vector<ModelChoice> models() {
  std::vector<ModelChoice> m;
  m.push_back({"yolox_nano", "yolox", testing::asset_path("yolox_nano.onnx").value_or(""),
               SlaClass::kCritical});
  m.push_back({"yolov8n", "yolov8", testing::asset_path("yolov8n.onnx").value_or(""),
               SlaClass::kBestEffort});
  return m;
}

struct PipeRow {
  std::string name, stream, model, sla;
  uint64_t offered = 0, taken = 0, dropped = 0;
  double age_p50 = -1, age_p99 = -1, drawn_p50 = -1, drawn_p99 = -1;
  double cpu_pct = 0, rss_mib = 0;
};

struct StreamRow {
  std::string name;
  double fps_in = 0, fps_out = 0;
};

struct PhaseResult {
  std::vector<StreamRow> streams;
  std::vector<PipeRow> pipes;
  Summary output;  // engine-added output latency (Orion only)
  double main_cpu_pct = 0, main_rss_mib = 0;
  double load = 0;
};

double loadavg() {
  std::ifstream f("/proc/loadavg");
  double l = 0;
  f >> l;
  return l;
}

// ---- Orion ------------------------------------------------------------------------------------

Result<PhaseResult> run_orion(const E2eBenchOptions& o, const std::vector<std::string>& urls) {
  engine::Config cfg;
  for (const auto& m : models()) {
    engine::ModelConfig mc;
    mc.name = m.name;
    mc.kind = m.kind;
    mc.path = m.path;
    mc.threads = 1;
    cfg.models.push_back(mc);
  }
  const auto ms = models();
  for (int i = 0; i < o.streams; ++i) {
    engine::StreamConfig sc;
    sc.name = "s" + std::to_string(i);
    sc.url = urls[static_cast<size_t>(i)];
    cfg.streams.push_back(sc);
    for (int j = 0; j < o.pipelines; ++j) {
      const ModelChoice& m = ms[static_cast<size_t>(j) % ms.size()];
      engine::PipelineConfig pc;
      pc.name = sc.name + "-" + m.name + (j >= 2 ? "-" + std::to_string(j) : "");
      pc.stream = sc.name;
      pc.model = m.name;
      pc.sla = m.sla;
      cfg.pipelines.push_back(pc);
    }
  }
  engine::EngineOptions eo;
  eo.rtsp_port = 0;
  eo.rtsp_address = "127.0.0.1";
  eo.latency_capacity = 4096;
  eo.max_frame_bytes = size_t{1280} * 720 * 3;
  auto created = engine::Engine::create(cfg, eo);
  if (!created) return created.error();
  engine::Engine& e = **created;
  if (auto st = e.start(); !st) return st.error();
  const Timestamp ready_by = now() + Duration::seconds(120);
  for (;;) {
    const auto ps = e.pipelines();
    bool ready = ps.size() == cfg.pipelines.size();
    for (const auto& p : ps) ready = ready && p.results > 0;
    if (ready) break;
    if (now() > ready_by)
      return make_error("bench.timeout", "pipelines produced no result within 120 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  // Window start.
  std::map<std::string, uint64_t> in0, out0, lastseq;
  for (const auto& r : e.report()) {
    in0[r.capture.name] = r.capture.frames;
    out0[r.capture.name] = r.compositor.frames;
    auto l = e.latencies(r.capture.name);
    lastseq[r.capture.name] = l.empty() ? 0 : l.back().sequence;
  }
  const auto pipes0 = e.pipelines();
  const auto lat0 = e.latency().pipelines();
  std::map<int, ProcTimes> cpu0;
  cpu0[0] = proc_times(0);
  for (const auto& p : pipes0) cpu0[p.pid] = proc_times(p.pid);
  const Timestamp t0 = now();
  std::vector<int64_t> output;
  while (now() - t0 < Duration::seconds_f(o.seconds)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    for (const auto& name : e.stream_names()) {
      for (const auto& l : e.latencies(name)) {
        if (l.sequence <= lastseq[name]) continue;
        lastseq[name] = l.sequence;
        output.push_back((l.handed - l.decoded).count_nanos());
      }
    }
  }
  const double span = (now() - t0).as_seconds();
  PhaseResult r;
  r.load = loadavg();
  for (const auto& rep : e.report()) {
    r.streams.push_back({rep.capture.name, (rep.capture.frames - in0[rep.capture.name]) / span,
                         (rep.compositor.frames - out0[rep.capture.name]) / span});
  }
  const auto pipes1 = e.pipelines();
  const auto lat1 = e.latency().pipelines();
  const ProcTimes main1 = proc_times(0);
  r.main_cpu_pct = (main1.cpu_s - cpu0[0].cpu_s) / span * 100;
  r.main_rss_mib = main1.rss / 1048576.0;
  for (const auto& p : pipes1) {
    PipeRow row;
    row.name = p.name;
    row.stream = p.stream;
    row.sla = std::string(to_string(p.sla));
    for (const auto& a : pipes0) {
      if (a.name != p.name) continue;
      row.offered = p.offered - a.offered;
      row.taken = p.taken - a.taken;
      row.dropped = p.dropped - a.dropped;
    }
    auto a = lat0.find(p.name);
    auto b = lat1.find(p.name);
    if (a != lat0.end() && b != lat1.end()) {
      row.age_p50 = window_quantile_ms(a->second.frame_age_at_inference,
                                       b->second.frame_age_at_inference, 0.5);
      row.age_p99 = window_quantile_ms(a->second.frame_age_at_inference,
                                       b->second.frame_age_at_inference, 0.99);
      row.drawn_p50 =
          window_quantile_ms(a->second.result_age_drawn, b->second.result_age_drawn, 0.5);
      row.drawn_p99 =
          window_quantile_ms(a->second.result_age_drawn, b->second.result_age_drawn, 0.99);
    }
    const ProcTimes w1 = proc_times(p.pid);
    auto c = cpu0.find(p.pid);
    row.cpu_pct =
        c != cpu0.end() ? (w1.cpu_s - c->second.cpu_s) / span * 100 : -1;  // -1: restarted
    row.rss_mib = w1.rss / 1048576.0;
    r.pipes.push_back(row);
  }
  r.output = summarize(output);
  e.stop();
  return r;
}

// ---- the seed-style baseline ------------------------------------------------------------------

struct FrameHeader {
  uint64_t sequence;
  int64_t capture_ns;
  int32_t width, height;
};

// The seeds decoded to BGR; the baseline converts each captured frame to BGR once and hands the
// same copy to every queue (the pipe write is the per-worker copy).
struct BgrFrame {
  FrameHeader header;
  std::vector<uint8_t> pixels;  // packed BGR24
};
using BgrFramePtr = std::shared_ptr<const BgrFrame>;

struct BaselineWorker {
  std::string name, stream, sla;
  pid_t pid = -1;
  int to_child = -1, from_child = -1;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<BgrFramePtr> queue;  // guarded by mu
  bool closing = false;           // guarded by mu
  std::atomic<uint64_t> offered{0}, taken{0}, dropped{0};
  std::thread writer, reader;
  std::mutex samples_mu;
  std::vector<int64_t> ages;  // frame age at inference (ns), while `recording`
  std::atomic<bool> recording{false};
};

Result<PhaseResult> run_baseline(const E2eBenchOptions& o, const std::vector<std::string>& urls) {
  std::error_code ec;
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  ::signal(SIGPIPE, SIG_IGN);  // a worker that died must not take the bench with it
  const auto ms = models();
  struct BaseStream {
    std::string name;
    std::unique_ptr<FrameSupplier> supplier;
    HeapFramePool pool;
    std::unique_ptr<media::Capture> capture;
    std::unique_ptr<Subscription> sub;
    std::thread distributor;
    std::vector<BaselineWorker*> workers;
  };
  std::vector<std::unique_ptr<BaseStream>> streams;
  std::vector<std::unique_ptr<BaselineWorker>> workers;
  std::atomic<bool> stopping{false};
  for (int i = 0; i < o.streams; ++i) {
    auto s = std::make_unique<BaseStream>();
    s->name = "s" + std::to_string(i);
    FrameSupplierOptions so;
    so.name = "base-" + s->name;
    s->supplier = std::make_unique<FrameSupplier>(so);
    for (int j = 0; j < o.pipelines; ++j) {
      const ModelChoice& m = ms[static_cast<size_t>(j) % ms.size()];
      auto w = std::make_unique<BaselineWorker>();
      w->name = s->name + "-" + m.name + (j >= 2 ? "-" + std::to_string(j) : "");
      w->stream = s->name;
      w->sla = std::string(to_string(m.sla));
      const std::string threads = "1";
      int in[2], out[2];
      if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
        return make_error("bench.pipe", std::strerror(errno));
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        execl(self.c_str(), self.c_str(), "bench", "e2e-worker", "--kind", m.kind.c_str(),
              "--model", m.path.c_str(), "--threads", threads.c_str(), static_cast<char*>(nullptr));
        _exit(127);
      }
      ::close(in[0]);
      ::close(out[1]);
      w->pid = pid;
      w->to_child = in[1];
      w->from_child = out[0];
      s->workers.push_back(w.get());
      workers.push_back(std::move(w));
    }
    streams.push_back(std::move(s));
  }
  for (auto& wp : workers) {
    BaselineWorker* w = wp.get();
    w->writer = std::thread([w] {
      for (;;) {
        BgrFramePtr f;
        {
          std::unique_lock lock(w->mu);
          w->cv.wait(lock, [&] { return w->closing || !w->queue.empty(); });
          if (w->queue.empty()) break;
          f = std::move(w->queue.front());
          w->queue.pop_front();
        }
        auto write_all = [&](const uint8_t* p, size_t n) {
          while (n > 0) {
            const ssize_t k = ::write(w->to_child, p, n);
            if (k <= 0) return false;
            p += k;
            n -= static_cast<size_t>(k);
          }
          return true;
        };
        bool ok = write_all(reinterpret_cast<const uint8_t*>(&f->header), sizeof f->header) &&
                  write_all(f->pixels.data(), f->pixels.size());
        if (!ok) break;
        ++w->taken;
      }
      ::close(w->to_child);
    });
    w->reader = std::thread([w] {
      FILE* in = ::fdopen(w->from_child, "r");
      if (in == nullptr) return;
      unsigned long long seq = 0;
      long long cap = 0, start = 0, end = 0, n = 0;
      while (std::fscanf(in, "%llu %lld %lld %lld %lld", &seq, &cap, &start, &end, &n) == 5) {
        if (!w->recording.load()) continue;
        std::lock_guard lock(w->samples_mu);
        w->ages.push_back(start - cap);
      }
      std::fclose(in);
    });
  }
  for (auto& sp : streams) {
    BaseStream* s = sp.get();
    media::CaptureOptions co;
    auto cap = media::Capture::create(s->name, 1, urls[static_cast<size_t>(&sp - &streams[0])], co,
                                      s->pool, *s->supplier);
    if (!cap) return cap.error();
    s->capture = std::move(cap.value());
    s->sub = s->supplier->subscribe("baseline", SlaClass::kCritical);
    s->distributor = std::thread([s, &o, &stopping] {
      while (!stopping.load()) {
        auto f = s->sub->next_frame(Duration::millis(100));
        if (!f) {
          if (f.error().code == "closed") break;
          continue;
        }
        auto bgr = std::make_shared<BgrFrame>();
        bgr->header = FrameHeader{(*f)->identity().sequence, (*f)->identity().capture_time.nanos(),
                                  (*f)->width(), (*f)->height()};
        const int row = (*f)->width() * 3;
        bgr->pixels.resize(static_cast<size_t>(row) * static_cast<size_t>((*f)->height()));
        if (!colour::to_bgr(colour::view_of(**f), bgr->pixels.data(), row)) continue;
        const BgrFramePtr shared = std::move(bgr);
        for (BaselineWorker* w : s->workers) {
          ++w->offered;
          std::lock_guard lock(w->mu);
          if (w->queue.size() >= o.queue) {
            ++w->dropped;
            continue;
          }
          w->queue.push_back(shared);
          w->cv.notify_one();
        }
      }
    });
    s->capture->start();
  }
  // Warm-up: until every worker answered, then warmup_s.
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s + 5));
  std::map<std::string, uint64_t> in0;
  for (auto& s : streams) in0[s->name] = s->capture->status().frames;
  std::map<std::string, std::array<uint64_t, 3>> c0;
  std::map<pid_t, ProcTimes> cpu0;
  cpu0[0] = proc_times(0);
  for (auto& w : workers) {
    c0[w->name] = {w->offered.load(), w->taken.load(), w->dropped.load()};
    cpu0[w->pid] = proc_times(w->pid);
    w->recording = true;
  }
  const Timestamp t0 = now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  const double span = (now() - t0).as_seconds();
  PhaseResult r;
  r.load = loadavg();
  for (auto& w : workers) w->recording = false;
  const ProcTimes main1 = proc_times(0);
  r.main_cpu_pct = (main1.cpu_s - cpu0[0].cpu_s) / span * 100;
  r.main_rss_mib = main1.rss / 1048576.0;
  for (auto& s : streams)
    r.streams.push_back({s->name, (s->capture->status().frames - in0[s->name]) / span, 0});
  for (auto& w : workers) {
    PipeRow row;
    row.name = w->name;
    row.stream = w->stream;
    row.sla = w->sla;
    row.offered = w->offered.load() - c0[w->name][0];
    row.taken = w->taken.load() - c0[w->name][1];
    row.dropped = w->dropped.load() - c0[w->name][2];
    {
      std::lock_guard lock(w->samples_mu);
      const Summary a = summarize(w->ages);
      row.age_p50 = a.n ? a.p50 / 1e3 : -1;
      row.age_p99 = a.n ? a.p99 / 1e3 : -1;
    }
    const ProcTimes p1 = proc_times(w->pid);
    row.cpu_pct = (p1.cpu_s - cpu0[w->pid].cpu_s) / span * 100;
    row.rss_mib = p1.rss / 1048576.0;
    r.pipes.push_back(row);
  }
  // Teardown: captures, distributors, writers (close the pipes), workers, readers.
  stopping = true;
  for (auto& s : streams) {
    s->capture->stop();
    s->supplier->stop();
    if (s->distributor.joinable()) s->distributor.join();
  }
  for (auto& w : workers) {
    {
      std::lock_guard lock(w->mu);
      w->closing = true;
      w->queue.clear();
    }
    w->cv.notify_all();
    if (w->writer.joinable()) w->writer.join();
  }
  for (auto& w : workers) {
    int status = 0;
    ::waitpid(w->pid, &status, 0);
    if (w->reader.joinable()) w->reader.join();
  }
  return r;
}

std::string ms_or_dash(double v) {
  if (v < 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string ratio(double a, double b) {
  if (a < 0 || b <= 0) return "-";
  char s[32];
  std::snprintf(s, sizeof s, "%.2f", a / b);
  return s;
}

}  // namespace

int run_e2e_bench(const E2eBenchOptions& o) {
  spdlog::set_level(spdlog::level::err);
  for (const auto& m : models())
    if (m.path.empty()) {
      std::fprintf(stderr, "bench e2e: %s.onnx not found in the assets (../shared/assets)\n",
                   m.name.c_str());
      return 2;
    }
  const auto a = testing::asset_path("vtest_480x360.mp4");
  const auto b = testing::asset_path("one-by-one-person-detection.mp4");
  if (!a || !b) {
    std::fprintf(stderr, "bench e2e: the asset videos are missing (../shared/assets)\n");
    return 2;
  }
  if (o.streams < 1 || o.pipelines < 1 || o.warmup_s + o.seconds + 20 > 79) {
    std::fprintf(stderr, "bench e2e: need streams, pipelines >= 1 and warm-up + seconds <= 59\n");
    return 2;
  }
  auto serve = [&](std::vector<std::unique_ptr<media::testing::RtspSourceFixture>>& cams,
                   std::vector<std::string>& urls) -> bool {
    for (int i = 0; i < o.streams; ++i) {
      auto c = media::testing::RtspSourceFixture::serve_file(i % 2 == 0 ? *a : *b);
      if (!c) {
        std::fprintf(stderr, "bench e2e: %s\n", c.error().to_string().c_str());
        return false;
      }
      urls.push_back(c.value()->url());
      cams.push_back(std::move(c.value()));
    }
    return true;
  };
  json out;
  std::vector<std::unique_ptr<media::testing::RtspSourceFixture>> cams;
  std::vector<std::string> urls;
  if (!serve(cams, urls)) return 2;
  auto orion = run_orion(o, urls);
  if (!orion) {
    std::fprintf(stderr, "bench e2e: orion: %s\n", orion.error().to_string().c_str());
    return 1;
  }
  cams.clear();
  urls.clear();
  std::optional<PhaseResult> base;
  if (o.baseline) {
    if (!serve(cams, urls)) return 2;
    auto br = run_baseline(o, urls);
    if (!br) {
      std::fprintf(stderr, "bench e2e: baseline: %s\n", br.error().to_string().c_str());
      return 1;
    }
    base = *br;
    cams.clear();
  }
  std::printf(
      "orion bench e2e: %d streams x %d pipelines, warm-up %.0f s, measured %.0f s; load average "
      "%.2f (orion) / %.2f (baseline)\n",
      o.streams, o.pipelines, o.warmup_s, o.seconds, orion->load, base ? base->load : 0.0);
  std::printf("\n| stream | in fps | out fps | baseline in fps |\n| --- | ---: | ---: | ---: |\n");
  for (size_t i = 0; i < orion->streams.size(); ++i) {
    const auto& s = orion->streams[i];
    std::printf(
        "| %s | %.2f | %.2f | %s |\n", s.name.c_str(), s.fps_in, s.fps_out,
        base && i < base->streams.size() ? ms_or_dash(base->streams[i].fps_in).c_str() : "-");
    out["streams"][s.name] = {{"fps_in", s.fps_in}, {"fps_out", s.fps_out}};
  }
  std::printf(
      "\n| pipeline (sla) | offered | taken | dropped | age at inference p50 / p99 ms | result age "
      "drawn p50 / p99 ms | worker CPU %% | worker RSS MiB | baseline: offered / taken / dropped | "
      "baseline age p50 / p99 ms | baseline CPU %% / RSS MiB | age p99 Orion/baseline |\n");
  std::printf(
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& p : orion->pipes) {
    const PipeRow* q = nullptr;
    if (base)
      for (const auto& x : base->pipes)
        if (x.name == p.name) q = &x;
    std::printf(
        "| %s (%s) | %llu | %llu | %llu | %s / %s | %s / %s | %.0f | %.0f | %s | %s / %s | %s | %s "
        "|\n",
        p.name.c_str(), p.sla.c_str(), static_cast<unsigned long long>(p.offered),
        static_cast<unsigned long long>(p.taken), static_cast<unsigned long long>(p.dropped),
        ms_or_dash(p.age_p50).c_str(), ms_or_dash(p.age_p99).c_str(),
        ms_or_dash(p.drawn_p50).c_str(), ms_or_dash(p.drawn_p99).c_str(), p.cpu_pct, p.rss_mib,
        q ? (std::to_string(q->offered) + " / " + std::to_string(q->taken) + " / " +
             std::to_string(q->dropped))
                .c_str()
          : "-",
        q ? ms_or_dash(q->age_p50).c_str() : "-", q ? ms_or_dash(q->age_p99).c_str() : "-",
        q ? (ms_or_dash(q->cpu_pct) + " / " + ms_or_dash(q->rss_mib)).c_str() : "-",
        q ? ratio(p.age_p99, q->age_p99).c_str() : "-");
    out["pipelines"][p.name] = {
        {"offered", p.offered},        {"taken", p.taken},        {"dropped", p.dropped},
        {"age_p50_ms", p.age_p50},     {"age_p99_ms", p.age_p99}, {"drawn_p50_ms", p.drawn_p50},
        {"drawn_p99_ms", p.drawn_p99}, {"cpu_pct", p.cpu_pct},    {"rss_mib", p.rss_mib}};
    if (q)
      out["baseline"][p.name] = {{"offered", q->offered},    {"taken", q->taken},
                                 {"dropped", q->dropped},    {"age_p50_ms", q->age_p50},
                                 {"age_p99_ms", q->age_p99}, {"cpu_pct", q->cpu_pct},
                                 {"rss_mib", q->rss_mib}};
  }
  std::printf(
      "\nengine-added output latency (decoded → handed to the encoder, every frame, n=%zu): p50 "
      "%.2f ms, p99 %.2f ms, max %.2f ms (the baseline has no output path)\n",
      orion->output.n, orion->output.p50 / 1e3, orion->output.p99 / 1e3, orion->output.max / 1e3);
  std::printf("engine process: CPU %.0f %% of a core, RSS %.0f MiB", orion->main_cpu_pct,
              orion->main_rss_mib);
  if (base)
    std::printf("; baseline process: CPU %.0f %%, RSS %.0f MiB", base->main_cpu_pct,
                base->main_rss_mib);
  std::printf("\n");
  double sum_o = orion->main_cpu_pct, sum_b = base ? base->main_cpu_pct : 0;
  for (const auto& p : orion->pipes) sum_o += std::max(0.0, p.cpu_pct);
  if (base)
    for (const auto& p : base->pipes) sum_b += p.cpu_pct;
  std::printf("all processes: CPU %.0f %% (orion) vs %.0f %% (baseline): %s×\n", sum_o, sum_b,
              base ? ratio(sum_o, sum_b).c_str() : "-");
  out["output_latency_ms"] = {{"p50", orion->output.p50 / 1e3},
                              {"p99", orion->output.p99 / 1e3},
                              {"max", orion->output.max / 1e3},
                              {"n", orion->output.n}};
  out["cpu_pct_total"] = {{"orion", sum_o}, {"baseline", sum_b}};
  if (!o.json_path.empty()) std::ofstream(o.json_path) << out.dump(2) << "\n";
  return 0;
}

int run_e2e_baseline_worker(const std::string& kind, const std::string& model_path, int threads) {
  infer::DetectorConfig dc;
  dc.kind = kind;
  dc.model_path = model_path;
  dc.threads = threads;
  auto det = infer::create_detector(dc);
  if (!det) {
    std::fprintf(stderr, "e2e-worker: %s\n", det.error().to_string().c_str());
    return 2;
  }
  // Results go to the original stdout; anything a library prints goes to stderr.
  FILE* results = ::fdopen(::dup(1), "w");
  ::dup2(2, 1);
  if (results == nullptr) return 2;
  (void)(*det)->warm_up(1);
  HeapFramePool pool;
  FrameHeader h{};
  while (std::fread(&h, sizeof h, 1, stdin) == 1) {
    if (h.width <= 0 || h.height <= 0 || h.width > 8192 || h.height > 8192) return 2;
    auto f = pool.acquire(FrameLayout::packed(PixelFormat::kBGR24, h.width, h.height));
    if (!f) return 2;
    const size_t n = static_cast<size_t>(h.width) * static_cast<size_t>(h.height) * 3;
    if (std::fread((*f)->mutable_data(), 1, n, stdin) != n) break;
    FrameIdentity id;
    id.sequence = h.sequence;
    id.capture_time = Timestamp::from_nanos(h.capture_ns);
    (*f)->set_identity(id);
    FramePtr frame = freeze(std::move(*f));
    const Timestamp start = now();
    auto r = (*det)->detect(*frame);
    const Timestamp end = now();
    std::fprintf(results, "%llu %lld %lld %lld %lld\n", static_cast<unsigned long long>(h.sequence),
                 static_cast<long long>(h.capture_ns), static_cast<long long>(start.nanos()),
                 static_cast<long long>(end.nanos()), static_cast<long long>(r ? r->size() : 0));
    std::fflush(results);
  }
  return 0;
}

}  // namespace orion::bench
