// PipelineRunner: what the supervisor does to one pipeline's worker instance — spawn it with
// its mailbox, read what it sends (bounded), judge its health, retire it, reap it and count what
// it did — applied by the loop in supervisor.cc. Process plumbing stays in child_process.h,
// judgement in worker_health.h / worker_intake.h; this file wires them to one pipeline.
//
// Ownership: PipelineRuntime owns its Instance; an Instance owns its process and its mailbox
// attachment, in that order of destruction (the process dies, then the mailbox is given back
// and its leases reclaimed), so no path — a spawn that fails half way included — leaks a slot.
// Thread-safety: thread-compatible; only the supervisor thread touches these.
#pragma once

#include <memory>
#include <string>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/result_store.h"
#include "engine/child_process.h"
#include "engine/supervisor.h"
#include "engine/worker_health.h"
#include "engine/worker_intake.h"
#include "ipc/shm_frame_pool.h"

namespace orion::engine {

// Work one worker may cause per loop turn: a chatty worker waits for the next turn instead of
// starving the others.
inline constexpr size_t kStdoutBytesPerTurn = 64 * 1024;
inline constexpr int kDatagramsPerTurn = 32;

// A mailbox attached for one instance, given back (detached, its offer and lease reclaimed)
// when this goes or on release().
class MailboxAttachment {
 public:
  MailboxAttachment(std::shared_ptr<ipc::ShmFramePool> pool, std::shared_ptr<ipc::MailboxPort> port)
      : pool_(std::move(pool)), port_(std::move(port)) {}
  MailboxAttachment(MailboxAttachment&&) = default;
  ~MailboxAttachment() { release(); }
  // Precondition: the reader is dead or will not read again.
  void release() {
    if (port_ && pool_) pool_->detach_and_reclaim(port_);
    pool_.reset();
  }
  ipc::MailboxPort& port() const { return *port_; }

 private:
  std::shared_ptr<ipc::ShmFramePool> pool_;
  std::shared_ptr<ipc::MailboxPort> port_;
};

struct Instance {
  Instance(MailboxAttachment m, ChildProcess p, ResultIntake::Context rc, uint64_t max_lines)
      : mailbox(std::move(m)), proc(std::move(p)), control(max_lines), results(std::move(rc)) {}
  MailboxAttachment mailbox;  // declared before proc: the process dies first, then the mailbox goes
  ChildProcess proc;
  LineFramer framer;
  ControlIntake control;
  ResultIntake results;
  WorkerFacts facts;
  Violations violations;
  Timestamp spawned, last_heartbeat;
  uint64_t heartbeat_seq = 0;
  uint64_t lease_token = 0;
  uint64_t scribbled = 0;  // MailboxStats::scribbled already reported as a violation
  Timestamp lease_since;
  bool produced = false, stopping = false, killed = false;
  Timestamp stop_requested;
  HealthAssessment kill;  // why the supervisor ended it (kHealthy: it was not killed)
};

struct PipelineRuntime {
  PipelineSpec spec;
  std::shared_ptr<ipc::ShmFramePool> pool;
  std::unique_ptr<Instance> inst;
  PipelineState state = PipelineState::kStarting;
  PipelineStats acc;  // counters of instances gone (and the lifetime ones)
  Backoff backoff;
  Timestamp next_start;  // unset: start now (when there is no instance)
  bool removing = false;
};

class PipelineRunner {
 public:
  PipelineRunner(const SupervisorOptions& o, const Clock& clock, ResultStore& results)
      : o_(o), clock_(clock), results_(results) {}

  // A new instance: mailbox attached, process started, configure sent.
  Status spawn(PipelineRuntime& p) const;
  void read_stdout(PipelineRuntime& p, Instance& i, size_t budget) const;
  void read_results(PipelineRuntime& p, Instance& i, int budget) const;
  // Heartbeat due, then the health verdict; an unhealthy instance is killed (reaped later).
  void check_health(PipelineRuntime& p, Instance& i, Timestamp now) const;
  // Asks the instance to stop (stop line, mailbox closed); killed after stop_grace.
  void retire(Instance& i, Timestamp now) const;
  // True when the instance was reaped (p.inst is then empty and the restart is scheduled).
  bool try_reap(PipelineRuntime& p, bool stopping) const;
  PipelineStats snapshot(const PipelineRuntime& p, Timestamp now) const;

 private:
  const SupervisorOptions& o_;
  const Clock& clock_;
  ResultStore& results_;
};

}  // namespace orion::engine