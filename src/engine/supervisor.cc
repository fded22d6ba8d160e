#include "engine/supervisor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <ostream>
#include <utility>

#include "core/backoff.h"
#include "core/thread.h"
#include "engine/child_process.h"
#include "engine/worker_health.h"

namespace orion::engine {

const char* to_string(PipelineState s) {
  switch (s) {
    case PipelineState::kStarting: return "starting";
    case PipelineState::kRunning: return "running";
    case PipelineState::kBackoff: return "backoff";
    case PipelineState::kFailed: return "failed";
    case PipelineState::kStopped: return "stopped";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, PipelineState s) { return os << to_string(s); }

namespace {

// Work one worker may cause per loop turn: a chatty worker waits for the next turn instead of
// starving the others.
constexpr size_t kStdoutBytesPerTurn = 64 * 1024;
constexpr int kDatagramsPerTurn = 32;

// A mailbox attached for one instance, given back (detached, its offer and lease reclaimed)
// when this goes: on every path, including a spawn that failed half way.
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

}  // namespace

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
  Timestamp lease_since;
  bool produced = false, stopping = false, killed = false;
  Timestamp stop_requested;
  HealthAssessment kill;  // why the supervisor ended it (kHealthy: it was not killed)
};

struct Supervisor::Pipeline {
  PipelineSpec spec;
  std::shared_ptr<ipc::ShmFramePool> pool;
  std::unique_ptr<Instance> inst;
  PipelineState state = PipelineState::kStarting;
  PipelineStats acc;  // counters of instances gone (and the lifetime ones)
  Backoff backoff;
  Timestamp next_start;  // unset: start now (when there is no instance)
  bool removing = false;
};

struct Supervisor::Command {
  enum Kind { kAdd, kRemove } kind;
  std::unique_ptr<Pipeline> pipeline;  // kAdd
  std::string name;
};

namespace {

void wake(int fd) {
  const uint64_t one = 1;
  if (fd >= 0) (void)!::write(fd, &one, sizeof one);
}

void add_counts(std::map<std::string, uint64_t>& to, const std::map<std::string, uint64_t>& from) {
  for (const auto& [k, n] : from) to[k] += n;
}

HealthLimits limits_of(const SupervisorOptions& o) {
  return {o.heartbeat_interval, o.heartbeat_timeout, o.startup_timeout, o.detect_timeout,
          o.stop_grace, o.max_violations};
}

}  // namespace

Supervisor::Supervisor(SupervisorOptions options, ResultStore& results)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : &SteadyClock::instance()),
      results_(results) {}

Supervisor::~Supervisor() {
  stop();
  const int fd = wake_fd_.exchange(-1);
  if (fd >= 0) ::close(fd);
}

Status Supervisor::start() {
  std::lock_guard lock(mu_);
  if (started_) return {};
  if (options_.worker_executable.empty() || ::access(options_.worker_executable.c_str(), X_OK) != 0)
    return make_error("supervisor.bad_options", "worker executable '" + options_.worker_executable +
                                                    "' is not an executable file");
  if (wake_fd_.load() < 0) {
    const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return make_error("supervisor.io", std::string("eventfd: ") + std::strerror(errno));
    wake_fd_.store(fd);
  }
  started_ = true;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return {};
}

Status Supervisor::add_pipeline(PipelineSpec spec, std::shared_ptr<ipc::ShmFramePool> pool) {
  if (spec.name.empty()) return make_error("supervisor.bad_pipeline", "pipeline name is empty");
  if (!pool)
    return make_error("supervisor.bad_pipeline", "pipeline '" + spec.name + "' has no frame pool");
  auto p = std::make_unique<Pipeline>();
  p->spec = std::move(spec);
  p->pool = std::move(pool);
  p->backoff = Backoff({options_.backoff_initial, options_.backoff_max, 2.0});
  PipelineStats first;
  first.name = p->spec.name;
  first.stream = p->spec.stream;
  first.sla = p->spec.sla;
  first.motion_gate = p->spec.motion_gate.enabled;
  std::lock_guard lock(mu_);
  if (stopping_) return make_error("supervisor.stopped", "supervisor is stopping");
  if (!names_.insert(first.name).second)
    return make_error("supervisor.duplicate", "pipeline '" + first.name + "' already exists");
  {
    std::lock_guard s(stats_mu_);
    published_[first.name] = first;
  }
  commands_.push_back(Command{Command::kAdd, std::move(p), first.name});
  wake(wake_fd_.load());
  return {};
}

Status Supervisor::remove_pipeline(const std::string& name) {
  std::lock_guard lock(mu_);
  if (names_.erase(name) == 0)
    return make_error("supervisor.unknown_pipeline", "no pipeline '" + name + "'");
  commands_.push_back(Command{Command::kRemove, nullptr, name});
  wake(wake_fd_.load());
  return {};
}

void Supervisor::stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_) return;
    stopping_ = true;
    wake(wake_fd_.load());
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  started_ = false;
}

std::vector<PipelineStats> Supervisor::stats() const {
  const Timestamp now = clock_->now();
  std::lock_guard lock(stats_mu_);
  std::vector<PipelineStats> out;
  for (const auto& [name, s] : published_) {
    out.push_back(s);
    if (s.last_result_time.is_set()) out.back().last_result_age = now - s.last_result_time;
  }
  return out;
}

std::optional<PipelineStats> Supervisor::stats(const std::string& pipeline) const {
  const Timestamp now = clock_->now();
  std::lock_guard lock(stats_mu_);
  auto it = published_.find(pipeline);
  if (it == published_.end()) return std::nullopt;
  PipelineStats s = it->second;
  if (s.last_result_time.is_set()) s.last_result_age = now - s.last_result_time;
  return s;
}

// ---------------------------------------------------------------------------------------------
// The loop thread. Everything below touches pipelines_ without a lock: only this thread does.
namespace {

struct Loop {
  const SupervisorOptions& o;
  const Clock& clock;
  ResultStore& results;

  Status spawn(Supervisor::Pipeline& p) const;
  void read_stdout(Supervisor::Pipeline& p, Instance& i, size_t budget) const;
  void read_results(Supervisor::Pipeline& p, Instance& i, int budget) const;
  void check_health(Supervisor::Pipeline& p, Instance& i, Timestamp now) const;
  // Returns true when the instance was reaped (p.inst is then empty).
  bool try_reap(Supervisor::Pipeline& p, bool stopping) const;
  void retire(Instance& i, Timestamp now) const;
};

Status Loop::spawn(Supervisor::Pipeline& p) const {
  auto port = p.pool->attach(p.spec.name);
  if (!port.ok()) return port.error();
  MailboxAttachment mailbox(p.pool, *port);
  auto pool_fd = p.pool->reader_fd();
  if (!pool_fd.ok()) return pool_fd.error();
  SpawnSpec spec;
  if (p.spec.worker_command.empty()) {
    spec.argv = {o.worker_executable};
    spec.argv.insert(spec.argv.end(), o.worker_args.begin(), o.worker_args.end());
  } else {
    spec.argv = p.spec.worker_command;
  }
  spec.argv.push_back("--parent-pid");
  spec.argv.push_back(std::to_string(::getpid()));
  spec.fds = {{pool_fd->get(), 3}, {(*port)->fd(), 4}};
  spec.results_socket = 5;
  spec.own_pid_namespace = o.own_pid_namespace;
  auto child = ChildProcess::spawn(spec);
  if (!child.ok()) return child.error();

  ResultIntake::Context rc;
  rc.stream_id = p.pool->stream_id();
  rc.pipeline = p.spec.name;
  rc.max_bytes = worker::kMaxResultBytes;
  rc.max_detections = o.max_detections_per_result;
  rc.offer_state = [port = *port](uint64_t) { return OfferState::kTaken; };
  auto inst = std::make_unique<Instance>(std::move(mailbox), std::move(child).value(), std::move(rc),
                                         o.max_control_lines_per_second);
  inst->spawned = inst->last_heartbeat = clock.now();

  worker::WorkerConfig c;
  c.pipeline = p.spec.name;
  c.stream = p.spec.stream;
  c.stream_id = p.pool->stream_id();
  c.sla = std::string(to_string(p.spec.sla));
  c.model = p.spec.model;
  c.min_score = p.spec.min_score;
  c.iou = p.spec.iou;
  c.motion_gate = p.spec.motion_gate;
  c.pool_fd = 3;
  c.mailbox_fd = 4;
  c.results_fd = 5;
  // If this fails the worker sees no configuration and fails its startup; handled like any exit.
  (void)inst->proc.send_line(worker::encode_configure(c));
  ++p.acc.instances;
  if (p.state != PipelineState::kFailed) p.state = PipelineState::kStarting;
  p.inst = std::move(inst);
  return {};
}

void Loop::read_stdout(Supervisor::Pipeline& p, Instance& i, size_t budget) const {
  char buf[8192];
  std::vector<std::string> lines;
  while (budget > 0 && i.proc.stdout_fd() >= 0) {
    const ssize_t k = ::read(i.proc.stdout_fd(), buf, std::min(sizeof buf, budget));
    if (k == 0) i.proc.close_stdout();  // a silent worker then fails its heartbeats
    if (k <= 0) break;
    budget -= static_cast<size_t>(k);
    const uint64_t overlong = i.framer.feed(std::string_view(buf, static_cast<size_t>(k)), lines);
    for (uint64_t n = 0; n < overlong; ++n)
      i.violations.add("protocol.line_too_long", "a control line over " +
                                                     std::to_string(kMaxControlLine) + " bytes");
  }
  const Timestamp now = clock.now();
  for (const std::string& line : lines) i.control.on_line(line, now, i.facts, i.violations);
  if (i.facts.ready && p.state != PipelineState::kFailed) p.state = PipelineState::kRunning;
}

void Loop::read_results(Supervisor::Pipeline& p, Instance& i, int budget) const {
  static thread_local std::vector<char> buf(worker::kMaxResultBytes + 1);
  for (; budget > 0 && i.proc.results_fd() >= 0; --budget) {
    const ssize_t k = ::recv(i.proc.results_fd(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (k < 0) break;
    if (k == 0) {  // SOCK_SEQPACKET: the worker closed its end
      i.proc.close_results();
      break;
    }
    const size_t got = std::min(static_cast<size_t>(k), buf.size());
    auto r = i.results.on_datagram(std::string_view(buf.data(), got), static_cast<size_t>(k),
                                   FrameSize{}, i.violations);
    if (!r) {
      ++p.acc.bad_results;
      continue;
    }
    p.acc.last_result_latency = r->done_time - r->frame.capture_time;
    results.put(std::move(*r));
    ++p.acc.results;
    p.acc.last_result_time = clock.now();
    i.produced = true;
  }
}

void Loop::retire(Instance& i, Timestamp now) const {
  if (i.stopping) return;
  i.stopping = true;
  i.stop_requested = now;
  (void)i.proc.send_line(worker::encode_simple("stop"));
  i.mailbox.port().close();
}

void Loop::check_health(Supervisor::Pipeline& p, Instance& i, Timestamp now) const {
  if (i.killed) return;
  const ipc::MailboxStats m = i.mailbox.port().stats();
  const uint64_t lease_token = m.lease_held ? m.last_sequence : 0;
  if (lease_token != i.lease_token) {
    i.lease_token = lease_token;
    i.lease_since = now;
  }
  if (!i.stopping && now - i.last_heartbeat >= o.heartbeat_interval) {
    (void)i.proc.send_line(worker::encode_heartbeat(++i.heartbeat_seq));
    i.last_heartbeat = now;
  }
  HealthFacts f;
  f.spawned = i.spawned;
  f.spoke = i.facts.spoke;
  f.last_reply = i.facts.last_reply;
  f.ready = i.facts.ready;
  f.ready_at = i.facts.ready_at;
  f.busy = i.facts.busy;
  f.progress = m.worker_progress;
  f.lease_token = i.lease_token;
  f.lease_since = i.lease_since;
  f.violations = i.violations.counted;
  f.flood = i.control.flood();
  f.fatal = i.facts.fatal;
  f.stopping = i.stopping;
  f.stop_requested = i.stop_requested;
  HealthAssessment a = assess(f, limits_of(o), now);
  if (a.verdict == HealthVerdict::kHealthy) return;
  i.kill = std::move(a);
  i.killed = true;
  if (Status st = i.proc.kill(); !st.ok()) p.acc.last_error = st.error().to_string();
}

bool Loop::try_reap(Supervisor::Pipeline& p, bool stopping) const {
  Instance& i = *p.inst;
  const std::optional<ExitStatus> exit = i.proc.try_reap();
  if (!exit) return false;
  // What it said before dying: a fatal error line, its last results.
  read_stdout(p, i, size_t{1} << 20);
  read_results(p, i, 1024);
  std::string reason = exit->signaled || exit->code != 0 ? "crashed" : "exited";
  std::string detail = exit->describe();
  if (i.kill.verdict != HealthVerdict::kHealthy) {
    reason = restart_reason(i.kill.verdict);
    detail = i.kill.detail;
  } else if (i.facts.fatal) {
    reason = "failed";
  }
  // The process is gone: take its mailbox and its leases back before anything else.
  const bool lease_held = i.mailbox.port().stats().lease_held;
  i.mailbox.release();
  const ipc::MailboxStats m = i.mailbox.port().stats();
  if (lease_held) ++p.acc.leases_reclaimed;
  p.acc.offered += m.offered;
  p.acc.taken += m.taken;
  p.acc.dropped += m.dropped + m.pending;
  p.acc.worker_frames += i.facts.frames;
  p.acc.motion_frames += i.facts.motion_frames;
  p.acc.motion_passed += i.facts.motion_passed;
  p.acc.motion_skipped += i.facts.motion_skipped;
  add_counts(p.acc.violations, i.violations.counts);
  const bool produced = i.produced;
  const std::string fatal = i.facts.fatal_error;
  const std::string violation = i.violations.last;
  p.inst.reset();
  if (reason == "stopping" || p.removing || stopping) {
    p.state = PipelineState::kStopped;
    return true;
  }
  ++p.acc.restarts;
  ++p.acc.restart_reasons[reason];
  if (reason == "failed") {
    p.acc.last_error = fatal;
    p.state = PipelineState::kFailed;
  } else {
    p.acc.last_error = reason == "misbehaved" && !violation.empty() ? violation + " (" + detail + ")"
                                                                     : reason + ": " + detail;
    p.state = PipelineState::kBackoff;
  }
  if (produced) p.backoff.reset();
  p.next_start = clock.now() + p.backoff.next();
  return true;
}

PipelineStats snapshot(const Supervisor::Pipeline& p, Timestamp now) {
  PipelineStats s = p.acc;
  s.name = p.spec.name;
  s.stream = p.spec.stream;
  s.sla = p.spec.sla;
  s.state = p.state;
  s.motion_gate = p.spec.motion_gate.enabled;
  s.pid = 0;
  s.pending = 0;
  if (const Instance* i = p.inst.get()) {
    const ipc::MailboxStats m = i->mailbox.port().stats();
    s.pid = i->proc.pid();
    s.own_pid_namespace = i->proc.in_own_pid_namespace();
    s.offered += m.offered;
    s.taken += m.taken;
    s.dropped += m.dropped;
    s.pending = m.pending;
    s.lease_held = m.lease_held;
    s.worker_frames += i->facts.frames;
    s.motion_frames += i->facts.motion_frames;
    s.motion_passed += i->facts.motion_passed;
    s.motion_skipped += i->facts.motion_skipped;
    add_counts(s.violations, i->violations.counts);
    if (!i->violations.last.empty()) s.last_error = i->violations.last;
    if (!i->facts.last_error.empty()) s.last_error = i->facts.last_error;
  } else if (p.next_start.is_set()) {
    s.next_start_in = std::max(Duration::zero(), p.next_start - now);
  }
  return s;
}

}  // namespace

void Supervisor::run() {
  set_current_thread_name("orion-supervise");
  // Writing to the stdin of a worker that just died raises SIGPIPE on this thread: keep it
  // blocked here so a host process that does not ignore SIGPIPE is not killed by it.
  block_sigpipe_on_this_thread();
  for (;;) {
    try {
      if (!turn()) break;
    } catch (const std::exception& e) {
      // A bug of ours must not end the engine: say it, and go on with the next turn.
      std::fprintf(stderr, "orion: supervisor: turn failed: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "orion: supervisor: turn failed with a non-standard exception\n");
    }
  }
  publish_stats();
}

bool Supervisor::turn() {
  const Loop loop{options_, *clock_, results_};
  {
    std::lock_guard lock(mu_);
    loop_stopping_ = stopping_;
    for (Command& c : commands_) {
      if (c.kind == Command::kAdd) {
        deferred_.push_back(std::move(c));
      } else if (auto it = pipelines_.find(c.name); it != pipelines_.end()) {
        it->second->removing = true;
      } else {  // removed before it was ever started
        std::erase_if(deferred_, [&](const Command& d) { return d.name == c.name; });
      }
    }
    commands_.clear();
  }
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (pipelines_.count(it->name)) {
      ++it;  // a removed namesake is still stopping
      continue;
    }
    pipelines_.emplace(it->name, std::move(it->pipeline));
    it = deferred_.erase(it);
  }

  enum Kind { kOut, kRes };
  std::vector<pollfd> fds{{wake_fd_.load(), POLLIN, 0}};
  std::vector<std::pair<Pipeline*, Kind>> tags{{nullptr, kOut}};
  for (auto& [name, p] : pipelines_) {
    if (!p->inst) continue;
    if (p->inst->proc.stdout_fd() >= 0) {
      fds.push_back({p->inst->proc.stdout_fd(), POLLIN, 0});
      tags.push_back({p.get(), kOut});
    }
    if (p->inst->proc.results_fd() >= 0) {
      fds.push_back({p->inst->proc.results_fd(), POLLIN, 0});
      tags.push_back({p.get(), kRes});
    }
    fds.push_back({p->inst->proc.pidfd(), POLLIN, 0});
    tags.push_back({p.get(), kOut});
  }
  const int timeout_ms = static_cast<int>(std::clamp<int64_t>(
      options_.heartbeat_interval.count_nanos() / 1'000'000, 1, 50));
  ::poll(fds.data(), fds.size(), timeout_ms);
  if (fds[0].revents & POLLIN) {
    uint64_t v;
    (void)!::read(fds[0].fd, &v, sizeof v);
  }
  for (size_t k = 1; k < fds.size(); ++k) {
    Pipeline& p = *tags[k].first;
    if (fds[k].revents == 0 || !p.inst) continue;
    if (tags[k].second == kOut)
      loop.read_stdout(p, *p.inst, kStdoutBytesPerTurn);
    else
      loop.read_results(p, *p.inst, kDatagramsPerTurn);
  }

  const Timestamp now = clock_->now();
  for (auto it = pipelines_.begin(); it != pipelines_.end();) {
    Pipeline& p = *it->second;
    try {
      if (p.inst) {
        if (!loop.try_reap(p, loop_stopping_)) {
          if (loop_stopping_ || p.removing) loop.retire(*p.inst, now);
          loop.check_health(p, *p.inst, now);
        }
      } else if (p.removing) {
        std::lock_guard lock(stats_mu_);
        published_.erase(p.spec.name);
        it = pipelines_.erase(it);
        continue;
      } else if (!loop_stopping_ && (!p.next_start.is_set() || now >= p.next_start)) {
        if (Status st = loop.spawn(p); !st.ok()) {
          ++p.acc.restarts;
          ++p.acc.restart_reasons["spawn_failed"];
          p.acc.last_error = st.error().to_string();
          p.state = PipelineState::kFailed;
          p.next_start = now + p.backoff.next();
        }
      }
    } catch (const std::exception& e) {
      // Whatever went wrong stays with this pipeline: its worker is replaced.
      p.acc.last_error = std::string("supervisor.internal: ") + e.what();
      if (p.inst) (void)p.inst->proc.kill();
    }
    ++it;
  }
  publish_stats();
  if (!loop_stopping_) return true;
  for (auto& [name, p] : pipelines_)
    if (p->inst) return true;
  for (auto& [name, p] : pipelines_) p->state = PipelineState::kStopped;
  return false;
}

void Supervisor::publish_stats() {
  const Timestamp now = clock_->now();
  std::vector<PipelineStats> snaps;
  snaps.reserve(pipelines_.size());
  for (const auto& [name, p] : pipelines_) snaps.push_back(snapshot(*p, now));
  std::lock_guard lock(stats_mu_);
  for (PipelineStats& s : snaps) {
    const std::string name = s.name;
    published_[name] = std::move(s);
  }
}

}  // namespace orion::engine
