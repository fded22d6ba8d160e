// Supervisor: runs one `orion worker` process per pipeline (model × stream), feeds it the
// stream's frames through a shared-memory mailbox, collects its results into the ResultStore,
// and keeps it alive: a worker that crashes, hangs or fails to load is replaced, with a capped
// exponential backoff, without ever blocking capture, output or the other workers.
//
//   engine ── ShmFramePool (per stream) ── MailboxPort (per worker instance) ──► orion worker
//          ◄── stdout: JSON control lines (hello, ready, heartbeat, error, stopped)
//          ──► stdin:  configure, heartbeat, stop
//          ◄── results socket (SOCK_SEQPACKET): one JSON result per datagram → ResultStore
//
// Processes: posix_spawn (no shell) of `<worker_executable> <worker_args> --parent-pid <pid>`
// (or of the pipeline's own PipelineSpec::worker_command instead of the first two),
// with fd 3 = pool (read-only), 4 = mailbox, 5 = results socket, every other descriptor closed,
// in a process group of its own (terminal signals reach the engine, which stops its workers).
// The worker sets PR_SET_PDEATHSIG(SIGKILL), so it dies with the supervisor thread that spawned
// it; stop() also stops and reaps every worker. Exits are observed through pidfds.
//
// Health: a heartbeat every heartbeat_interval; no reply for heartbeat_timeout once the worker
// has spoken (SIGSTOP, dead lock), no "ready" within startup_timeout of the spawn (exec, model
// load), a frame loop that stopped marking progress in its mailbox while its heartbeats say it
// is not inside an inference, or one detect() running longer than detect_timeout
// → the worker is hung: SIGKILL, reaped, restarted. Restart delay: backoff_initial after an
// instance that produced at least one result; otherwise doubling per consecutive failure up to
// backoff_max (a bad model file retries at 0.1, 0.2, 0.4 ... s, capped). Reasons counted:
// "crashed" (signal or non-zero exit), "hung", "startup_timeout", "failed" (the worker reported
// a fatal error, e.g. a bad model file; the pipeline shows state "failed" and the reason),
// "exited" (status 0 without being asked).
// Leases: when a worker instance is reaped its mailbox is detached and its leases reclaimed
// (ShmFramePool::detach_and_reclaim) before the next instance gets a fresh mailbox.
//
// Statistics per pipeline (for the control plane): offered, taken, dropped, pending (summed
// over the pipeline's worker instances, exact), restarts and reasons, last error, results,
// last result age, leases reclaimed, and the motion gate's frames/passed/skipped (reported by
// the worker in its heartbeat, state and stopped lines; summed over instances, so up to one
// heartbeat interval behind, and the counts of an instance killed between two heartbeats lose
// what it did since its last one).
//
// Lifecycle: construct → start() (spawns the supervisor thread "orion-supervise") →
// add_pipeline()/remove_pipeline() any time → stop() (idempotent; also the destructor).
// Thread-safety: every public member is thread-safe. `mu_` guards the pipeline table and the
// command queue; the supervisor thread alone touches processes and descriptors.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/frame_supplier.h"
#include "core/result.h"
#include "core/result_store.h"
#include "core/time.h"
#include "infer/motion_gate.h"
#include "ipc/shm_frame_pool.h"
#include "worker/protocol.h"

namespace orion::engine {

struct PipelineSpec {
  std::string name;
  std::string stream;
  SlaClass sla = SlaClass::kBestEffort;
  worker::ModelConfig model;
  float min_score = 0.25f;
  float iou = 0.45f;
  infer::MotionGateConfig motion_gate;  // sent in the worker's configure message
  // The worker program of this pipeline: executable (a path) and its arguments, run as
  // `<worker_command...> --parent-pid PID`. Empty: SupervisorOptions' worker_executable and
  // worker_args (Orion's own `orion worker`). Lets one pipeline be served by e.g. a Python
  // worker while the others run `orion worker` (docs/design/worker_protocol.md).
  std::vector<std::string> worker_command;
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
  const Clock* clock = nullptr;  // ages in statistics; nullptr: SteadyClock
};

struct PipelineStats {
  std::string name;
  std::string stream;
  SlaClass sla = SlaClass::kBestEffort;
  std::string state;       // "starting", "running", "backoff", "failed", "stopped"
  int pid = 0;             // current worker process, 0 when none
  uint64_t instances = 0;  // worker processes started so far
  uint64_t restarts = 0;
  std::map<std::string, uint64_t> restart_reasons;
  std::string last_error;  // "code: message" of the last failure, "" if none
  // Misbehaviour of the pipeline's workers, counted per code and summed over instances
  // ("protocol.bad_line", "result.never_offered", "mailbox.scribbled", ...: issue 9). Declared
  // ahead of the supervisor that fills it, so src/engine/hostile_worker_test.cc can assert on it.
  std::map<std::string, uint64_t> violations;
  uint64_t offered = 0, taken = 0, dropped = 0, pending = 0;
  uint64_t results = 0;
  uint64_t bad_results = 0;  // datagrams refused by validation
  Timestamp last_result_time;
  Duration last_result_age = Duration::max();  // now - last_result_time
  // Capture → result of the last result (done_time - frame capture_time): how old the
  // annotations are when they reach the compositor.
  Duration last_result_latency;
  uint64_t leases_reclaimed = 0;
  bool lease_held = false;  // the current worker holds a frame (is mid-frame) right now
  Duration next_start_in;   // in "backoff"/"failed": time to the next attempt
  // Motion gate (PipelineSpec::motion_gate): frames it looked at, frames it let through to the
  // detector and frames it skipped for lack of motion (no detect(), no new result). All 0 when
  // the gate is off. motion_frames == motion_passed + motion_skipped.
  bool motion_gate = false;
  uint64_t motion_frames = 0, motion_passed = 0, motion_skipped = 0;
};

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

  struct Pipeline;

 private:
  void run();
  void loop_once();

  const SupervisorOptions options_;
  const Clock* const clock_;
  ResultStore& results_;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;  // guarded by mu_
  bool stopping_ = false;                                       // guarded by mu_
  bool started_ = false;                                        // guarded by mu_
  int wake_fd_ = -1;  // eventfd; written by any thread, read by the supervisor thread
  std::thread thread_;
};

}  // namespace orion::engine
