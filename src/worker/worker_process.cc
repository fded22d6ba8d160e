#include "worker/worker_process.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/device.h"
#include "core/thread.h"
#include "core/thread_annotations.h"
#include "infer/motion_gate.h"
#include "infer/registry.h"
#include "ipc/frame_reader.h"
#include "protocol/control.h"
#include "protocol/result.h"
#include "worker/configure.h"
#include "worker/fake_detector.h"

namespace orion::worker {
namespace {

using protocol::WorkerConfig;
using protocol::WorkerCounters;

int64_t now_ns() { return SteadyClock::instance().now().nanos(); }

// Writes whole lines to the control channel; several threads emit.
class Emitter {
 public:
  explicit Emitter(int fd) : fd_(fd) {}
  void line(const std::string& s) {
    MutexLock lock(mu_);
    std::string out = s + "\n";
    const char* p = out.data();
    size_t n = out.size();
    while (n > 0) {
      const ssize_t k = ::write(fd_, p, n);
      if (k < 0) {
        if (errno == EINTR) continue;
        return;  // the engine is gone; PDEATHSIG or end of stdin ends us
      }
      p += k;
      n -= static_cast<size_t>(k);
    }
  }
  void error(const Error& e, bool fatal) { line(protocol::encode_error(e, fatal)); }

 private:
  Mutex mu_;  // guards no field: it keeps each line whole on the descriptor (a leaf)
  int fd_;    // constant
};

// The device came from the engine, so from the database: checked again here like every other
// field (infer::create_detector() checks it for the registered kinds; "fake" is not one).
Result<infer::DetectorPtr> make_detector(const WorkerConfig& c) {
  if (c.model.kind == "fake") {
    if (!c.model.device.empty()) {
      auto device = parse_inference_device(c.model.device);
      if (!device) return device.error();
      if (auto fits = check_device_for_kind(c.model.kind, *device); !fits) return fits.error();
    }
    return make_fake_detector(c.model.fake_delay_ms);
  }
  return infer::create_detector(to_detector_config(c));
}

// The frame loop and its counters (read by the control thread for heartbeats).
class Loop {
 public:
  Loop(WorkerConfig config, Emitter& out) : config_(std::move(config)), out_(out) {}
  ~Loop() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  std::string state() const {
    switch (state_.load()) {
      case 0:
        return "loading";
      case 1:
        return "running";
      default:
        return "closed";
    }
  }
  uint64_t frames() const { return frames_.load(); }
  infer::MotionGateStats motion_stats() const {
    MutexLock lock(motion_mu_);
    return motion_;
  }
  int64_t busy_ms() const {
    const int64_t since = busy_since_.load();
    return since == 0 ? -1 : (now_ns() - since) / 1'000'000;
  }
  WorkerCounters counters() const {
    const infer::MotionGateStats m = motion_stats();
    WorkerCounters c;
    c.state = state();
    c.frames = frames_.load();
    c.errors = errors_.load();
    c.results_sent = sent_.load();
    c.results_dropped = unsent_.load();
    c.busy_ms = busy_ms();
    c.motion_frames = m.frames;
    c.motion_passed = m.passed;
    c.motion_skipped = m.skipped;
    return c;
  }

 private:
  [[noreturn]] void fatal(const Error& e) {
    out_.error(e, true);
    ::_exit(3);
  }

  // Thread entry point: an exception is fatal for the worker, reported to the engine first.
  void run() {
    run_guarded(
        "worker-loop", [this] { body(); },
        [this](std::string_view why) { fatal(make_error("worker.exception", std::string(why))); });
  }

  void body() {
    auto reader =
        ipc::FrameReader::open(ipc::UniqueFd(config_.pool_fd), ipc::UniqueFd(config_.mailbox_fd));
    if (!reader.ok()) fatal(reader.error());
    if (reader.value()->pool().stream_id != config_.stream_id)
      fatal(make_error("worker.bad_config",
                       "pool is stream " + std::to_string(reader.value()->pool().stream_id) +
                           ", configure said " + std::to_string(config_.stream_id)));
    auto det = make_detector(config_);
    if (!det.ok()) fatal(det.error());
    infer::Detector& detector = **det;
    if (auto w = detector.warm_up(1); !w.ok()) fatal(w.error());
    // Disabled: passes everything, computes nothing.
    infer::MotionGate gate(to_motion_gate_config(config_.motion_gate));
    const auto& info = detector.info();
    out_.line(protocol::encode_ready({info.kind, info.model_path, info.input_width,
                                      info.input_height, info.class_names.size()}));
    state_.store(1);
    ipc::FrameReader& rd = **reader;
    int reported = 0;
    while (!stop_.load()) {
      auto f = rd.next_frame(Duration::millis(100));
      rd.mark_progress(SteadyClock::instance().now());
      if (!f.ok()) {
        if (f.error().code == "timeout") continue;
        if (f.error().code == "closed") break;
        errors_.fetch_add(1);
        if (reported++ < 10) out_.error(f.error(), false);
        continue;
      }
      if (gate.config().enabled) {
        // A static scene needs no new result: the compositor keeps drawing the last one. A gate
        // that fails on this frame lets it through (the detector then says what is wrong).
        auto decision = gate.update(**f);
        if (decision.ok()) {
          MutexLock lock(motion_mu_);
          motion_ = gate.stats();
        } else {
          errors_.fetch_add(1);
          if (reported++ < 10) out_.error(decision.error(), false);
        }
        if (decision.ok() && !decision->run_inference) {
          f = make_error("released", "");  // ends the lease
          rd.mark_progress(SteadyClock::instance().now());
          continue;
        }
      }
      DetectionResult r;
      r.pipeline = config_.pipeline;
      r.frame = (*f)->identity();
      const int64_t t0 = now_ns();
      busy_since_.store(t0);
      auto dets = detector.detect(**f);
      const int64_t t1 = now_ns();
      rd.mark_progress(Timestamp::from_nanos(t1));  // before "not busy": see loop_stalled()
      busy_since_.store(0);
      f = make_error("released", "");  // ends the lease before the result goes out
      frames_.fetch_add(1);
      if (!dets.ok()) {
        errors_.fetch_add(1);
        if (reported++ < 10) out_.error(dets.error(), false);
        continue;
      }
      r.detections = std::move(dets).value();
      r.done_time = Timestamp::from_nanos(t1);
      r.inference_time = Duration::nanos(t1 - t0);
      const std::string msg = protocol::encode_result(r);
      if (::send(config_.results_fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        if (errno == EPIPE || errno == ECONNRESET) break;  // the engine is gone
        unsent_.fetch_add(1);  // engine not reading fast enough: results are newest-only too
      } else {
        sent_.fetch_add(1);
      }
    }
    state_.store(2);
  }

  WorkerConfig config_;
  Emitter& out_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> state_{0};
  std::atomic<uint64_t> frames_{0}, errors_{0}, sent_{0}, unsent_{0};
  mutable Mutex motion_mu_;                               // a leaf
  infer::MotionGateStats motion_ GUARDED_BY(motion_mu_);  // a copy of the gate's, consistent
  std::atomic<int64_t> busy_since_{0};
};

// Reads lines from a descriptor.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  bool next(std::string& line) {
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return true;
      }
      if (buf_.size() > (1 << 20)) return false;  // absurd line: treat as a broken channel
      char tmp[4096];
      const ssize_t k = ::read(fd_, tmp, sizeof tmp);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(k));
    }
  }

 private:
  int fd_;
  std::string buf_;
};

int run(const WorkerProcessOptions& o) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The engine already died (before PDEATHSIG was armed). In a PID namespace of its own (the
  // supervisor's default) the parent lives outside it and getppid() reads 0; the engine's death
  // then shows as the end of stdin.
  const pid_t parent = ::getppid();
  if (o.expected_parent != 0 && parent != 0 && parent != o.expected_parent) return 1;
  std::signal(SIGPIPE, SIG_IGN);
  Emitter out(o.out_fd);
  out.line(protocol::encode_hello(::getpid()));  // protocol::kProtocolVersion, ipc::kAbiVersion
  LineReader in(o.in_fd);
  std::unique_ptr<Loop> loop;
  std::string line;
  while (in.next(line)) {
    if (line.empty()) continue;
    auto msg = protocol::decode_control(line);
    if (!msg.ok()) {
      out.error(msg.error(), false);
      continue;
    }
    if (msg->type == "configure") {
      if (loop) {
        out.error(make_error("protocol.bad_message", "already configured"), false);
        continue;
      }
      auto cfg = protocol::decode_configure(line);
      if (!cfg.ok()) {
        out.error(cfg.error(), true);
        return 2;
      }
      loop = std::make_unique<Loop>(std::move(cfg).value(), out);
      loop->start();
    } else if (msg->type == "heartbeat") {
      out.line(
          protocol::encode_heartbeat_reply(msg->seq, loop ? loop->counters() : WorkerCounters{}));
    } else if (msg->type == "state") {
      out.line(protocol::encode_counters("state", loop ? loop->counters() : WorkerCounters{}));
    } else if (msg->type == "stop") {
      break;
    } else {
      out.error(make_error("protocol.unknown_type", "unknown message type '" + msg->type + "'"),
                false);
    }
  }
  if (loop) {
    loop->stop();
    out.line(
        protocol::encode_counters("stopped", loop->counters()));  // final, after the last frame
  } else {
    out.line(protocol::encode_simple("stopped"));
  }
  return 0;
}

}  // namespace

int run_worker_process(const WorkerProcessOptions& options) {
  try {
    return run(options);
  } catch (const std::exception& e) {
    Emitter(options.out_fd).error(make_error("worker.exception", e.what()), true);
    return 3;
  } catch (...) {
    return 3;
  }
}

}  // namespace orion::worker
