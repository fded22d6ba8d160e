#include "bench/detect_bench.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/clock.h"
#include "infer/detector.h"
#include "infer/image_io.h"
#include "infer/model_spec.h"
#include "infer/registry.h"
#include "testing/asset_paths.h"

namespace orion::bench {
namespace {

// The Python baseline: argv = kind model image threads runs warmup. Loads, warms up, prints
// "ready", then for each stdin line "run N" times N forward/detect pairs and prints
// "forward_ms v...", "detect_ms v..." and "detections N"; any other line ends it.
constexpr const char* kPythonScript = R"PY(
import sys, time
import numpy as np, cv2
kind, model, image = sys.argv[1], sys.argv[2], sys.argv[3]
threads, runs, warmup = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
cv2.setNumThreads(threads)
net = cv2.dnn.readNetFromONNX(model)
img = cv2.imread(image)
size = 640 if kind == 'yolov8' else 416
if kind == 'yolox':
    gs, ss = [], []
    for s in (8, 16, 32):
        n = size // s
        yv, xv = np.meshgrid(np.arange(n), np.arange(n), indexing='ij')
        gs.append(np.stack((xv, yv), 2).reshape(-1, 2)); ss.append(np.full((n * n, 1), s))
    grids = np.concatenate(gs).astype(np.float32); strides = np.concatenate(ss).astype(np.float32)
def pre(img):
    h, w = img.shape[:2]; r = min(size / h, size / w)
    canvas = np.full((size, size, 3), 114, np.uint8)
    if kind == 'yolov8':
        nw, nh = round(w * r), round(h * r)
        top, left = round((size - nh) / 2 - 0.1), round((size - nw) / 2 - 0.1)
        canvas[top:top + nh, left:left + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        return cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=True), r, left, top
    nw, nh = int(w * r), int(h * r)
    canvas[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return cv2.dnn.blobFromImage(canvas, 1.0, swapRB=False), r, 0, 0
def post(out, r, left, top):
    if kind == 'yolov8':
        p = out[0].T if out.shape[1] < out.shape[2] else out[0]
        b, scores = p[:, :4], p[:, 4:]
    else:
        p = out[0]
        b = np.concatenate([(p[:, :2] + grids) * strides, np.exp(p[:, 2:4]) * strides], 1)
        scores = p[:, 4:5] * p[:, 5:]
    cls = scores.argmax(1); sc = scores[np.arange(len(cls)), cls]
    keep = sc >= 0.25; b, sc, cls = b[keep], sc[keep], cls[keep]
    xywh = np.stack([(b[:, 0] - b[:, 2] / 2 - left) / r, (b[:, 1] - b[:, 3] / 2 - top) / r,
                     b[:, 2] / r, b[:, 3] / r], 1)
    off = xywh.copy(); off[:, :2] += cls[:, None] * 4096.0
    idx = np.array(cv2.dnn.NMSBoxes(off.tolist(), sc.tolist(), 0.25, 0.45)).flatten()
    return [(int(cls[i]), float(sc[i]), xywh[i]) for i in idx]
def detect():
    blob, r, left, top = pre(img); net.setInput(blob); return post(net.forward(), r, left, top)
blob = pre(img)[0]
for _ in range(warmup): detect()
print('ready', flush=True)
for line in sys.stdin:
    n = int(line.split()[1]) if line.startswith('run') else 0
    if n <= 0: break
    fw, dt = [], []
    for _ in range(n):
        t = time.perf_counter(); net.setInput(blob); net.forward(); fw.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter(); d = detect(); dt.append((time.perf_counter() - t) * 1e3)
    print('forward_ms', *('%.4f' % v for v in fw))
    print('detect_ms', *('%.4f' % v for v in dt))
    print('detections', len(d), flush=True)
)PY";

struct Stats {
  double p50 = 0, p99 = 0;
  size_t n = 0;
};

// Nearest-rank percentiles.
Stats stats_of(std::vector<double> v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    const auto k = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(k, 1, v.size()) - 1];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  return s;
}

struct Row {
  std::string kind, model;
  int threads = 0;
  Stats forward, detect, pre, post;
  Stats pair_ratio;      // detect_i / forward_i of adjacent calls
  Stats inner_overhead;  // within one detect(): (pre + post) / forward
  size_t detections = 0;
  bool have_python = false;
  Stats py_forward, py_detect;
  size_t py_detections = 0;
  std::string python_note;
};

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

// The Python baseline process: started once per (model, threads), then asked for blocks of
// runs between our own blocks, so both see the same machine load. Owns the child: the
// destructor ends it (stdin closed, then waited for).
class PythonBaseline {
 public:
  PythonBaseline() = default;
  PythonBaseline(const PythonBaseline&) = delete;
  PythonBaseline& operator=(const PythonBaseline&) = delete;
  ~PythonBaseline() { stop(); }

  // Spawns the interpreter and waits for "ready" (model loaded, warmed up).
  bool start(const std::vector<std::string>& args) {
    int in[2], out[2];
    if (pipe(in) != 0) return fail("pipe failed");
    if (pipe(out) != 0) {
      close(in[0]);
      close(in[1]);
      return fail("pipe failed");
    }
    pid_ = fork();
    if (pid_ < 0) return fail("fork failed");
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      dup2(out[1], STDERR_FILENO);
      close(in[0]);
      close(in[1]);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      std::fprintf(stderr, "cannot run %s\n", argv[0]);
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = fdopen(in[1], "w");
    from_ = fdopen(out[0], "r");
    std::string line;
    while (read_line(line)) {
      if (line == "ready") return true;
      log_ += line + "\n";
    }
    return fail(last_line(log_));
  }

  // Runs n forward/detect pairs in the child; appends the times (ms).
  bool run(int n, std::vector<double>& fw, std::vector<double>& dt, size_t& detections) {
    if (!to_ || std::fprintf(to_, "run %d\n", n) < 0 || std::fflush(to_) != 0) {
      return fail("cannot write to the child");
    }
    std::string line;
    for (int got = 0; got < 3;) {
      if (!read_line(line)) return fail("child ended: " + last_line(log_));
      std::istringstream ls(line);
      std::string key;
      ls >> key;
      double v;
      if (key == "forward_ms" || key == "detect_ms") {
        auto& dst = key == "forward_ms" ? fw : dt;
        while (ls >> v) dst.push_back(v);
        ++got;
      } else if (key == "detections") {
        ls >> detections;
        ++got;
      } else {
        log_ += line + "\n";
      }
    }
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool read_line(std::string& line) {
    line.clear();
    if (!from_) return false;
    int c;
    while ((c = std::fgetc(from_)) != EOF && c != '\n') line += static_cast<char>(c);
    return c != EOF || !line.empty();
  }
  bool fail(const std::string& why) {
    if (error_.empty()) error_ = why;
    return false;
  }
  void stop() {
    if (to_) {
      std::fputs("quit\n", to_);
      std::fclose(to_);
      to_ = nullptr;
    }
    if (from_) {
      std::fclose(from_);
      from_ = nullptr;
    }
    if (pid_ > 0) {
      int st = 0;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }

  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  std::string log_, error_;
};

std::string default_python() {
  std::error_code ec;
  return std::filesystem::exists("/usr/bin/python3", ec) ? "/usr/bin/python3" : "python3";
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

Status measure(const infer::ModelSpec& spec, const Frame& frame, int threads,
               const DetectBenchOptions& o, const std::string& python, const std::string& image,
               Row& row) {
  infer::DetectorConfig config = infer::config_from_spec(spec);
  config.threads = threads;
  auto det = infer::create_detector(config);
  if (!det) return det.error();
  infer::Detector& d = **det;
  for (int i = 0; i < std::max(1, o.warmup); ++i) {
    auto r = d.detect(frame);
    if (!r) return r.error();
  }

  PythonBaseline py;
  bool use_python = false;
  if (o.python && (spec.kind == "yolov8" || spec.kind == "yolox")) {
    use_python =
        py.start({python, "-c", kPythonScript, spec.kind, spec.path, image, std::to_string(threads),
                  std::to_string(o.runs), std::to_string(o.warmup)});
    if (!use_python) {
      row.python_note = "python baseline skipped (" + python + ": " + py.error() + ")";
    }
  } else if (o.python) {
    row.python_note = "no python baseline for kind " + spec.kind;
  }

  const Clock& clock = SteadyClock::instance();
  std::vector<double> fw, dt, pre, post, ratio, inner, py_fw, py_dt;
  const int block = std::max(1, o.block);
  for (int done = 0; done < o.runs;) {
    const int n = std::min(block, o.runs - done);
    for (int i = 0; i < n; ++i) {
      const Timestamp t0 = clock.now();
      if (auto st = d.forward_only(); !st) return st;
      const Timestamp t1 = clock.now();
      auto r = d.detect(frame);
      const Timestamp t2 = clock.now();
      if (!r) return r.error();
      const infer::DetectorTimings t = d.last_timings();
      fw.push_back((t1 - t0).as_millis());
      dt.push_back((t2 - t1).as_millis());
      pre.push_back(t.preprocess.as_millis());
      post.push_back(t.postprocess.as_millis());
      ratio.push_back(dt.back() / fw.back());
      inner.push_back((t.preprocess + t.postprocess).as_millis() / t.forward.as_millis());
      row.detections = r->size();
    }
    done += n;
    if (use_python && !py.run(n, py_fw, py_dt, row.py_detections)) {
      use_python = false;
      row.python_note = "python baseline failed (" + py.error() + ")";
      py_fw.clear();
      py_dt.clear();
    }
  }
  row.forward = stats_of(fw);
  row.detect = stats_of(dt);
  row.pre = stats_of(pre);
  row.post = stats_of(post);
  row.pair_ratio = stats_of(ratio);
  row.inner_overhead = stats_of(inner);
  if (use_python) {
    row.have_python = true;
    row.py_forward = stats_of(py_fw);
    row.py_detect = stats_of(py_dt);
  }
  return {};
}

void write_json(const std::string& path, const std::vector<Row>& rows, const DetectBenchOptions& o,
                const std::string& image, const std::string& load_before,
                const std::string& load_after) {
  std::ofstream out(path);
  auto st = [](const Stats& s) {
    char b[96];
    std::snprintf(b, sizeof b, "{\"p50\": %.4f, \"p99\": %.4f, \"n\": %zu}", s.p50, s.p99, s.n);
    return std::string(b);
  };
  out << "{\"image\": \"" << image << "\", \"runs\": " << o.runs << ", \"warmup\": " << o.warmup
      << ", \"block\": " << o.block << ", \"loadavg_before\": \"" << load_before
      << "\", \"loadavg_after\": \"" << load_after << "\", \"unit\": \"ms\", \"results\": [";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << (i ? ",\n" : "\n") << "  {\"kind\": \"" << r.kind << "\", \"model\": \"" << r.model
        << "\", \"threads\": " << r.threads << ", \"forward\": " << st(r.forward)
        << ", \"detect\": " << st(r.detect) << ", \"preprocess\": " << st(r.pre)
        << ", \"postprocess\": " << st(r.post) << ", \"detect_over_forward_p50\": "
        << (r.forward.p50 > 0 ? r.detect.p50 / r.forward.p50 : 0)
        << ", \"paired_ratio\": " << st(r.pair_ratio)
        << ", \"inner_overhead\": " << st(r.inner_overhead);
    if (r.have_python) {
      out << ", \"python_forward\": " << st(r.py_forward)
          << ", \"python_detect\": " << st(r.py_detect)
          << ", \"forward_over_python_forward_p50\": " << r.forward.p50 / r.py_forward.p50
          << ", \"detect_over_python_detect_p50\": " << r.detect.p50 / r.py_detect.p50;
    }
    out << "}";
  }
  out << "\n]}\n";
}

}  // namespace

int run_detect_bench(const DetectBenchOptions& opts) {
  DetectBenchOptions o = opts;
  if (o.runs < 1 || o.warmup < 0 || o.block < 1) {
    std::fprintf(stderr, "bench detect: --runs and --block must be >= 1, --warmup >= 0\n");
    return 2;
  }
  const auto assets = orion::testing::assets_dir();
  if (o.models.empty()) {
    if (!assets) {
      std::fprintf(stderr, "bench detect: no --model given and no assets dir (set ORION_ASSETS)\n");
      return 2;
    }
    o.models = {"yolov8:" + *assets + "/yolov8n.onnx", "yolox:" + *assets + "/yolox_nano.onnx"};
  }
  if (o.image.empty()) {
    if (!assets) {
      std::fprintf(stderr, "bench detect: no --image given and no assets dir (set ORION_ASSETS)\n");
      return 2;
    }
    o.image = *assets + "/bus.jpg";
  }
  auto frame = infer::load_image(o.image);
  if (!frame) {
    std::fprintf(stderr, "bench detect: %s\n", frame.error().to_string().c_str());
    return 1;
  }
  const std::string python = o.python_exe.empty() ? default_python() : o.python_exe;
  const std::string load_before = loadavg();
  std::printf(
      "orion bench detect: image %s (%dx%d), %d timed runs after %d warm-up, %ld CPUs, "
      "load average %s\n",
      o.image.c_str(), (*frame)->width(), (*frame)->height(), o.runs, o.warmup,
      sysconf(_SC_NPROCESSORS_ONLN), load_before.c_str());
  std::printf(
      "  forward = Detector::forward_only(): setInput + net.forward on the prepared blob\n"
      "  detect  = Detector::detect() end to end (pre = letterbox + blob, post = decode + NMS)\n"
      "  ratio   = p50 over runs of detect_i / forward_i (adjacent calls); inner = p50 of "
      "(pre + post) / forward within detect()\n"
      "  python  = %s -c, cv2 doing the same steps, in blocks of %d runs alternating with ours\n"
      "  times in ms; p99 is nearest rank (with 30 runs: the slowest)\n\n",
      o.python ? python.c_str() : "(disabled)", o.block);

  std::vector<Row> rows;
  int failures = 0;
  for (const auto& text : o.models) {
    auto spec = infer::parse_model_spec(text);
    if (!spec) {
      std::fprintf(stderr, "bench detect: %s\n", spec.error().to_string().c_str());
      return 2;
    }
    for (int threads : o.threads) {
      Row row;
      row.kind = spec->kind;
      row.model =
          spec->path.empty() ? spec->kind : std::filesystem::path(spec->path).filename().string();
      row.threads = threads;
      if (auto st = measure(*spec, **frame, threads, o, python, o.image, row); !st) {
        std::fprintf(stderr, "bench detect: %s, %d threads: %s\n", text.c_str(), threads,
                     st.error().to_string().c_str());
        ++failures;
        continue;
      }
      const double ratio = row.pair_ratio.p50;
      std::printf(
          "%-7s %-16s %d thr  forward p50 %7.2f p99 %7.2f | detect p50 %7.2f p99 %7.2f "
          "(pre %.2f post %.2f) | ratio %.3f inner %.3f %s | %zu dets\n",
          row.kind.c_str(), row.model.c_str(), threads, row.forward.p50, row.forward.p99,
          row.detect.p50, row.detect.p99, row.pre.p50, row.post.p50, ratio,
          1.0 + row.inner_overhead.p50,
          ratio <= 1.05 ? "(goal <= 1.05 met)" : "(goal <= 1.05 MISSED)", row.detections);
      if (row.have_python) {
        std::printf(
            "%-7s %-16s python forward p50 %7.2f p99 %7.2f | detect p50 %7.2f p99 %7.2f "
            "| ours/python p50: forward %.3f, detect %.3f | %zu dets\n",
            "", "", row.py_forward.p50, row.py_forward.p99, row.py_detect.p50, row.py_detect.p99,
            row.forward.p50 / row.py_forward.p50, row.detect.p50 / row.py_detect.p50,
            row.py_detections);
      } else if (!row.python_note.empty()) {
        std::printf("%-7s %-16s %s\n", "", "", row.python_note.c_str());
      }
      std::fflush(stdout);
      rows.push_back(std::move(row));
    }
  }
  const std::string load_after = loadavg();
  std::printf("\nload average at the end: %s\n", load_after.c_str());
  if (!o.json_path.empty()) write_json(o.json_path, rows, o, o.image, load_before, load_after);
  return failures == 0 ? 0 : 1;
}

}  // namespace orion::bench
