// Supervisor: runs one worker process per pipeline (model × stream), feeds it the stream's
// frames through a shared-memory mailbox, takes its results into the ResultStore, and keeps it
// alive: a worker that crashes, hangs, fails to load or misbehaves is replaced, with a capped
// exponential backoff (core/backoff.h), without ever blocking capture, output or other workers.
//
//   engine ── ShmFramePool (per stream) ── MailboxPort (per worker instance) ──► worker process
//          ◄── stdout: JSON control lines (hello, ready, heartbeat, error, stopped)
//          ──► stdin:  configure, heartbeat, stop
//          ◄── results socket (SOCK_SEQPACKET): one JSON result per datagram → ResultStore
//
// The jobs live in one place each:
//   child_process.h   the process: clone3 in a PID namespace of its own (children it leaves
//                     behind die with it), descriptors 3 pool (read-only) / 4 mailbox / 5 results,
//                     RAII kill and reap
//   worker_intake.h   what the worker sends → facts or violations; results checked against what
//                     was offered to that instance, boxes clamped, detections capped
//   worker_health.h   the pure health policy: (now, facts) → healthy / hung / misbehaved / ...
//   supervisor.cc     the thin loop that applies them (below)
//
// The engine trusts nothing a worker sends or writes (docs/adr/0036-worker-sandbox.md): every
// message is bounded and validated and attributed to its pipeline (PipelineStats::violations);
// the loop does bounded work per worker per turn, so a chatty worker cannot starve the others;
// the counters reported here are the engine's own (MailboxPort keeps them privately).
//
// Restart reasons counted: "crashed" (signal or non-zero exit), "exited" (status 0 unasked),
// "hung", "startup_timeout", "misbehaved" (too many violations, or a flood), "failed" (a fatal
// error it reported, e.g. a bad model file, or a protocol it does not share: state kFailed),
// "spawn_failed".
//
// Lifecycle: construct → start() (the thread "orion-supervise") → add_pipeline() /
// remove_pipeline() any time → stop() (idempotent; also the destructor).
// Thread-safety: every public member is thread-safe. Locks, in order: mu_ (commands, names,
// lifecycle flags) → stats_mu_ (the published snapshot). Neither is held across a syscall or a
// parse: the loop thread alone owns pipelines, processes and descriptors, and publishes a
// snapshot of their statistics at the end of every turn. Across modules: supervisor → pool
// (ShmFramePool's locks, taken inside attach/detach/stats) → result store
// (docs/design/threads.md); today the loop calls the pool and the store holding neither lock.
#pragma once

#include <atomic>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/frame_supplier.h"
#include "core/result.h"
#include "core/result_store.h"
#include "core/thread_annotations.h"
#include "core/time.h"
#include "ipc/shm_frame_pool.h"
#include "protocol/control.h"

namespace orion::engine {

struct PipelineSpec {
  std::string name;
  std::string stream;
  SlaClass sla = SlaClass::kBestEffort;
  protocol::ModelConfig model;
  float min_score = 0.25f;
  float iou = 0.45f;
  protocol::MotionGateSettings motion_gate;  // sent in the worker's configure message
  // The worker program for this pipeline: executable and arguments placed before
  // "--parent-pid PID". Empty: SupervisorOptions::worker_executable and worker_args.
  std::vector<std::string> worker_command;

  friend bool operator==(const PipelineSpec&, const PipelineSpec&) = default;
};

struct SupervisorOptions {
  std::string worker_executable;  // the `orion` binary (required)
  // Arguments before "--parent-pid PID". Another worker implementation (any language, see
  // docs/design/worker_protocol.md) is run as e.g. {"/usr/bin/python3", {"worker.py"}}.
  std::vector<std::string> worker_args = {"worker"};
  Duration heartbeat_interval = Duration::millis(250);
  Duration heartbeat_timeout = Duration::millis(1500);
  Duration startup_timeout = Duration::seconds(60);
  Duration detect_timeout = Duration::seconds(30);
  Duration backoff_initial = Duration::millis(100);
  Duration backoff_max = Duration::seconds(10);
  Duration stop_grace = Duration::seconds(2);
  // Distrust: violations an instance may commit before it is replaced ("misbehaved"), control
  // lines per second beyond which it is replaced at once, detections kept per result.
  uint64_t max_violations = 50;
  uint64_t max_control_lines_per_second = 500;
  size_t max_detections_per_result = 100;
  // Each worker the first process of a PID namespace of its own when the engine may create one.
  bool own_pid_namespace = true;
  // Every time the supervisor decides on (health, backoff, ages). Worker progress marks are
  // CLOCK_MONOTONIC, so a clock other than SteadyClock is for statistics-only tests.
  const Clock* clock = nullptr;  // nullptr: SteadyClock
  // Every result accepted from a worker (validated, clamped, capped), before it goes into the
  // ResultStore. Called on the supervisor's thread: it must not block (the event writer queues).
  std::function<void(const DetectionResult&)> on_result;
  // Called first on every accepted result, on the supervisor's thread, before on_result: the
  // engine replaces the worker's claims it can check with its own facts (the frame's capture
  // time) and records the result's latencies (engine/latency_book.h). Must not block.
  std::function<void(DetectionResult&)> vouch;
};

enum class PipelineState { kStarting, kRunning, kBackoff, kFailed, kStopped };
const char* to_string(PipelineState s);  // "starting", "running", "backoff", "failed", "stopped"
std::ostream& operator<<(std::ostream& os, PipelineState s);

struct PipelineStats {
  std::string name;
  std::string stream;
  SlaClass sla = SlaClass::kBestEffort;
  PipelineState state = PipelineState::kStarting;
  int pid = 0;             // current worker process, 0 when none
  uint64_t instances = 0;  // worker processes started so far
  uint64_t restarts = 0;
  std::map<std::string, uint64_t> restart_reasons;
  std::string last_error;  // "code: message" of the last failure, "" if none
  uint64_t offered = 0, taken = 0, dropped = 0, pending = 0;
  uint64_t results = 0;
  uint64_t bad_results = 0;  // datagrams refused by validation
  // What its workers did wrong, per code (worker_intake.h lists them), summed over instances.
  std::map<std::string, uint64_t> violations;
  uint64_t worker_frames = 0;  // the workers' own count of frames processed (their claim)
  Timestamp last_result_time;
  Duration last_result_age = Duration::max();  // now - last_result_time
  // Capture → result of the last result (done_time - frame capture_time): how old the
  // annotations are when they reach the compositor.
  Duration last_result_latency;
  uint64_t leases_reclaimed = 0;
  bool lease_held = false;  // the current worker holds a frame (is mid-frame) right now
  Duration next_start_in;   // in kBackoff/kFailed: time to the next attempt
  bool own_pid_namespace = false;  // the current worker runs in a PID namespace of its own
  // Motion gate (PipelineSpec::motion_gate): frames it looked at, frames it let through to the
  // detector and frames it skipped for lack of motion (no detect(), no new result). All 0 when
  // the gate is off. motion_frames == motion_passed + motion_skipped.
  bool motion_gate = false;
  uint64_t motion_frames = 0, motion_passed = 0, motion_skipped = 0;
};

struct PipelineRuntime;  // pipeline_runner.h

class Supervisor {
 public:
  Supervisor(SupervisorOptions options, ResultStore& results);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Errors: "supervisor.bad_options" (no executable), "supervisor.io" (eventfd).
  Status start();
  // Starts a worker for `spec` reading from `pool`. Errors: "supervisor.duplicate",
  // "supervisor.bad_pipeline", "supervisor.stopped".
  Status add_pipeline(PipelineSpec spec, std::shared_ptr<ipc::ShmFramePool> pool);
  // Stops the pipeline's worker (graceful, then SIGKILL after stop_grace) and forgets it.
  // Errors: "supervisor.unknown_pipeline".
  Status remove_pipeline(const std::string& name);
  std::vector<PipelineStats> stats() const;
  std::optional<PipelineStats> stats(const std::string& pipeline) const;
  // Stops and reaps every worker, then the supervisor thread. Idempotent.
  void stop();

 private:
  struct Command;
  void run();
  // One turn of the loop; returns false once stopping is complete.
  bool turn();
  void publish_stats();

  const SupervisorOptions options_;
  const Clock* const clock_;
  ResultStore& results_;

  mutable Mutex mu_;
  std::vector<Command> commands_ GUARDED_BY(mu_);
  std::set<std::string> names_ GUARDED_BY(mu_);  // pipelines added and not removed
  bool stopping_ GUARDED_BY(mu_) = false;
  bool started_ GUARDED_BY(mu_) = false;
  // eventfd, written by any thread without a lock (an atomic); closed by the destructor.
  std::atomic<int> wake_fd_{-1};

  mutable Mutex stats_mu_ ACQUIRED_AFTER(mu_);
  std::map<std::string, PipelineStats> published_ GUARDED_BY(stats_mu_);

  // Loop thread only (no lock).
  std::map<std::string, std::unique_ptr<PipelineRuntime>> pipelines_;
  std::vector<Command> deferred_;  // adds waiting for a removed namesake to finish stopping
  bool loop_stopping_ = false;     // a copy of stopping_ taken under mu_ at the start of a turn
  // Started by start() under mu_, joined by stop() without it (joining under mu_ would block
  // the loop's next turn): start() and stop() are the owner's, not for concurrent callers.
  std::thread thread_;
};

}  // namespace orion::engine
