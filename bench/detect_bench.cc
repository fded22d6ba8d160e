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
#include "testing/assets.h"

namespace orion::bench {
namespace {

// The Python baseline: argv = kind model image threads runs warmup. Prints two lines,
// "forward_ms v..." and "detect_ms v...", then "detections N".
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
fw, dt = [], []
for _ in range(runs):
    t = time.perf_counter(); net.setInput(blob); net.forward(); fw.append((time.perf_counter() - t) * 1e3)
    t = time.perf_counter(); d = detect(); dt.append((time.perf_counter() - t) * 1e3)
print('forward_ms', *('%.4f' % v for v in fw))
print('detect_ms', *('%.4f' % v for v in dt))
print('detections', len(d))
)PY";

struct Stats {
  double p50 = 0, p99 = 0;
  size_t n = 0;
};

// Nearest-rank percentiles, in milliseconds.
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
  size_t detections = 0;
  bool have_python = false;
  Stats py_forward, py_detect;
  size_t py_detections = 0;
  std::string python_note;
};

// Runs argv, returns its stdout+stderr and exit status.
struct ChildOutput {
  std::string text;
  int status = -1;
};

ChildOutput run_child(const std::vector<std::string>& args) {
  ChildOutput out;
  int fds[2];
  if (pipe(fds) != 0) return out;
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return out;
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "cannot run %s\n", argv[0]);
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  out.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

void run_python(const std::string& exe, const std::string& model, const std::string& image,
                const DetectBenchOptions& o, Row& row) {
  ChildOutput child = run_child({exe, "-c", kPythonScript, row.kind, model, image,
                                 std::to_string(row.threads), std::to_string(o.runs),
                                 std::to_string(o.warmup)});
  std::vector<double> fw, dt;
  std::istringstream in(child.text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    std::vector<double>* dst = key == "forward_ms" ? &fw : key == "detect_ms" ? &dt : nullptr;
    if (key == "detections") ls >> row.py_detections;
    double v;
    while (dst && ls >> v) dst->push_back(v);
  }
  if (child.status != 0 || fw.empty() || dt.empty()) {
    row.python_note = "python baseline skipped (" + exe + " exited " +
                      std::to_string(child.status) + ": " + last_line(child.text) + ")";
    return;
  }
  row.have_python = true;
  row.py_forward = stats_of(fw);
  row.py_detect = stats_of(dt);
}

std::string default_python() {
  std::error_code ec;
  return std::filesystem::exists("/usr/bin/python3", ec) ? "/usr/bin/python3" : "python3";
}

Status measure(const infer::ModelSpec& spec, const Frame& frame, int threads,
               const DetectBenchOptions& o, Row& row) {
  infer::DetectorConfig config = infer::config_from_spec(spec);
  config.threads = threads;
  auto det = infer::create_detector(config);
  if (!det) return det.error();
  infer::Detector& d = **det;
  for (int i = 0; i < std::max(1, o.warmup); ++i) {
    auto r = d.detect(frame);
    if (!r) return r.error();
  }
  const Clock& clock = SteadyClock::instance();
  std::vector<double> fw, dt, pre, post;
  for (int i = 0; i < o.runs; ++i) {
    Timestamp t0 = clock.now();
    if (auto st = d.forward_only(); !st) return st;
    Timestamp t1 = clock.now();
    auto r = d.detect(frame);
    Timestamp t2 = clock.now();
    if (!r) return r.error();
    fw.push_back((t1 - t0).as_millis());
    dt.push_back((t2 - t1).as_millis());
    pre.push_back(d.last_timings().preprocess.as_millis());
    post.push_back(d.last_timings().postprocess.as_millis());
    row.detections = r->size();
  }
  row.forward = stats_of(fw);
  row.detect = stats_of(dt);
  row.pre = stats_of(pre);
  row.post = stats_of(post);
  return {};
}

void write_json(const std::string& path, const std::vector<Row>& rows, const DetectBenchOptions& o,
                const std::string& image) {
  std::ofstream out(path);
  auto st = [](const Stats& s) {
    char b[96];
    std::snprintf(b, sizeof b, "{\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"n\": %zu}", s.p50, s.p99, s.n);
    return std::string(b);
  };
  out << "{\"image\": \"" << image << "\", \"runs\": " << o.runs << ", \"warmup\": " << o.warmup
      << ", \"results\": [";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << (i ? ",\n" : "\n") << "  {\"kind\": \"" << r.kind << "\", \"model\": \"" << r.model
        << "\", \"threads\": " << r.threads << ", \"forward\": " << st(r.forward)
        << ", \"detect\": " << st(r.detect) << ", \"preprocess\": " << st(r.pre)
        << ", \"postprocess\": " << st(r.post) << ", \"detect_over_forward_p50\": "
        << (r.forward.p50 > 0 ? r.detect.p50 / r.forward.p50 : 0);
    if (r.have_python) {
      out << ", \"python_forward\": " << st(r.py_forward) << ", \"python_detect\": "
          << st(r.py_detect) << ", \"detect_over_python_detect_p50\": "
          << r.detect.p50 / r.py_detect.p50;
    }
    out << "}";
  }
  out << "\n]}\n";
}

}  // namespace

int run_detect_bench(const DetectBenchOptions& opts) {
  DetectBenchOptions o = opts;
  if (o.runs < 1 || o.warmup < 0) {
    std::fprintf(stderr, "bench detect: --runs must be >= 1 and --warmup >= 0\n");
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
  std::printf("orion bench detect: image %s (%dx%d), %d timed runs after %d warm-up, %u CPUs\n",
              o.image.c_str(), (*frame)->width(), (*frame)->height(), o.runs, o.warmup,
              std::max(1u, static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN))));
  std::printf("  forward = forward_only() (setInput + net.forward on the prepared blob); detect = "
              "detect() end to end; times in ms\n");
  std::printf("  python  = %s -c with cv2 (same image, same steps), run right after ours\n\n",
              o.python ? python.c_str() : "(disabled)");

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
      row.model = spec->path.empty() ? spec->kind
                                     : std::filesystem::path(spec->path).filename().string();
      row.threads = threads;
      if (auto st = measure(*spec, **frame, threads, o, row); !st) {
        std::fprintf(stderr, "bench detect: %s, %d threads: %s\n", text.c_str(), threads,
                     st.error().to_string().c_str());
        ++failures;
        continue;
      }
      if (o.python && !spec->path.empty() && (spec->kind == "yolov8" || spec->kind == "yolox")) {
        run_python(python, spec->path, o.image, o, row);
      } else if (o.python) {
        row.python_note = "no python baseline for kind " + spec->kind;
      }
      const double ratio = row.detect.p50 / row.forward.p50;
      std::printf("%-8s %-18s threads %d  forward p50 %7.2f p99 %7.2f | detect p50 %7.2f p99 "
                  "%7.2f (pre %.2f, post %.2f) | detect/forward %.3f %s | %zu detections\n",
                  row.kind.c_str(), row.model.c_str(), threads, row.forward.p50, row.forward.p99,
                  row.detect.p50, row.detect.p99, row.pre.p50, row.post.p50, ratio,
                  ratio <= 1.05 ? "(goal <= 1.05 met)" : "(goal <= 1.05 MISSED)", row.detections);
      if (row.have_python) {
        std::printf("%-8s %-18s python    forward p50 %7.2f p99 %7.2f | detect p50 %7.2f p99 "
                    "%7.2f | ours/python: forward %.3f, detect %.3f | %zu detections\n",
                    "", "", row.py_forward.p50, row.py_forward.p99, row.py_detect.p50,
                    row.py_detect.p99, row.forward.p50 / row.py_forward.p50,
                    row.detect.p50 / row.py_detect.p50, row.py_detections);
      } else if (!row.python_note.empty()) {
        std::printf("%-8s %-18s %s\n", "", "", row.python_note.c_str());
      }
      std::fflush(stdout);
      rows.push_back(std::move(row));
    }
  }
  if (!o.json_path.empty()) write_json(o.json_path, rows, o, o.image);
  return failures == 0 ? 0 : 1;
}

}  // namespace orion::bench
