#include "engine/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "ipc/unique_fd.h"

extern char** environ;

namespace orion::engine {

namespace {

using ipc::UniqueFd;

int64_t mono_ns() { return SteadyClock::instance().now().nanos(); }

std::string errno_text() { return std::strerror(errno); }

// A descriptor copy numbered >= 6, so that posix_spawn's dup2 onto 0..5 never clobbers a
// source that happens to have a low number. Close-on-exec: the child keeps only the dup2 copy.
UniqueFd high_copy(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 6)); }

}  // namespace

struct Instance {
  pid_t pid = 0;
  UniqueFd pidfd, stdin_fd, stdout_fd, results_fd;
  std::shared_ptr<ipc::MailboxPort> port;
  std::string out_buf;
  int64_t spawned_ns = 0, last_reply_ns = 0, last_heartbeat_ns = 0, kill_at_ns = 0;
  uint64_t heartbeat_seq = 0;
  int64_t busy_ms = -1;
  int64_t ready_ns = 0;
  bool hello = false;  // the process said something: from then on heartbeats must be answered
  bool out_eof = false, results_eof = false;  // the worker closed that channel: stop polling it
  bool ready = false, produced = false, fatal_reported = false, killed = false;
  std::string kill_reason;  // set when the supervisor ends the process: "hung", "stopping", ...
  std::string fatal_error;
  uint64_t motion_frames = 0, motion_passed = 0, motion_skipped = 0;  // as last reported
};

struct Supervisor::Pipeline {
  PipelineSpec spec;
  std::shared_ptr<ipc::ShmFramePool> pool;
  std::unique_ptr<Instance> inst;
  std::string state = "starting";
  uint64_t instances = 0, restarts = 0;
  std::map<std::string, uint64_t> reasons;
  std::string last_error;
  uint64_t acc_offered = 0, acc_taken = 0, acc_dropped = 0;
  uint64_t results = 0, bad_results = 0, leases_reclaimed = 0;
  uint64_t acc_motion_frames = 0, acc_motion_passed = 0, acc_motion_skipped = 0;  // dead instances
  Timestamp last_result_time;
  Duration last_result_latency;
  int consecutive_failures = 0;
  int64_t next_start_ns = 0;  // 0: start now (when no instance)
  bool removing = false;
};

Supervisor::Supervisor(SupervisorOptions options, ResultStore& results)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : &SteadyClock::instance()),
      results_(results) {}

Supervisor::~Supervisor() { stop(); }

Status Supervisor::start() {
  std::lock_guard lock(mu_);
  if (started_) return {};
  if (options_.worker_executable.empty() || ::access(options_.worker_executable.c_str(), X_OK) != 0)
    return make_error("supervisor.bad_options", "worker executable '" + options_.worker_executable +
                                                    "' is not an executable file");
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return make_error("supervisor.io", "eventfd: " + errno_text());
  started_ = true;
  thread_ = std::thread([this] { run(); });
  return {};
}

static void wake(int fd) {
  const uint64_t one = 1;
  if (fd >= 0) (void)!::write(fd, &one, sizeof one);
}

Status Supervisor::add_pipeline(PipelineSpec spec, std::shared_ptr<ipc::ShmFramePool> pool) {
  if (spec.name.empty()) return make_error("supervisor.bad_pipeline", "pipeline name is empty");
  if (!pool)
    return make_error("supervisor.bad_pipeline", "pipeline '" + spec.name + "' has no frame pool");
  {
    std::lock_guard lock(mu_);
    if (stopping_) return make_error("supervisor.stopped", "supervisor is stopping");
    if (pipelines_.count(spec.name))
      return make_error("supervisor.duplicate", "pipeline '" + spec.name + "' already exists");
    auto p = std::make_unique<Pipeline>();
    p->spec = std::move(spec);
    p->pool = std::move(pool);
    pipelines_.emplace(p->spec.name, std::move(p));
    wake(wake_fd_);  // under mu_: stop() cannot close the descriptor meanwhile
  }
  return {};
}

Status Supervisor::remove_pipeline(const std::string& name) {
  {
    std::lock_guard lock(mu_);
    auto it = pipelines_.find(name);
    if (it == pipelines_.end())
      return make_error("supervisor.unknown_pipeline", "no pipeline '" + name + "'");
    it->second->removing = true;
    wake(wake_fd_);
  }
  return {};
}

void Supervisor::stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_) return;
    stopping_ = true;
    wake(wake_fd_);
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
  started_ = false;
}

namespace {

PipelineStats snapshot(const Supervisor::Pipeline& p, Timestamp now) {
  PipelineStats s;
  s.name = p.spec.name;
  s.stream = p.spec.stream;
  s.sla = p.spec.sla;
  s.state = p.state;
  s.pid = p.inst ? p.inst->pid : 0;
  s.instances = p.instances;
  s.restarts = p.restarts;
  s.restart_reasons = p.reasons;
  s.last_error = p.last_error;
  s.offered = p.acc_offered;
  s.taken = p.acc_taken;
  s.dropped = p.acc_dropped;
  if (p.inst && p.inst->port) {
    const ipc::MailboxStats m = p.inst->port->stats();
    s.offered += m.offered;
    s.taken += m.taken;
    s.dropped += m.dropped;
    s.pending = m.pending;
    s.lease_held = m.lease_held;
  }
  s.results = p.results;
  s.bad_results = p.bad_results;
  s.last_result_time = p.last_result_time;
  s.last_result_latency = p.last_result_latency;
  if (p.last_result_time.is_set()) s.last_result_age = now - p.last_result_time;
  s.leases_reclaimed = p.leases_reclaimed;
  s.motion_gate = p.spec.motion_gate.enabled;
  s.motion_frames = p.acc_motion_frames;
  s.motion_passed = p.acc_motion_passed;
  s.motion_skipped = p.acc_motion_skipped;
  if (p.inst) {
    s.motion_frames += p.inst->motion_frames;
    s.motion_passed += p.inst->motion_passed;
    s.motion_skipped += p.inst->motion_skipped;
  }
  if (!p.inst && p.next_start_ns > 0)
    s.next_start_in = Duration::nanos(std::max<int64_t>(0, p.next_start_ns - mono_ns()));
  return s;
}

}  // namespace

std::vector<PipelineStats> Supervisor::stats() const {
  std::lock_guard lock(mu_);
  std::vector<PipelineStats> out;
  const Timestamp now = clock_->now();
  for (const auto& [name, p] : pipelines_) out.push_back(snapshot(*p, now));
  return out;
}

std::optional<PipelineStats> Supervisor::stats(const std::string& pipeline) const {
  std::lock_guard lock(mu_);
  auto it = pipelines_.find(pipeline);
  if (it == pipelines_.end()) return std::nullopt;
  return snapshot(*it->second, clock_->now());
}

// ---------------------------------------------------------------------------------------------
// Everything below runs on the supervisor thread, with mu_ held except while in poll().
namespace {

struct Ctx {
  const SupervisorOptions& o;
  const Clock& clock;
  ResultStore& results;
};

// Writes to a worker's stdin pipe. The worker may have died: the write then fails with EPIPE
// and raises SIGPIPE, which the supervisor thread keeps blocked (see run()); the pending signal
// is consumed here so that nothing is left for the host process, whatever its SIGPIPE handling.
bool write_fd(int fd, const char* data, size_t size) {
  const ssize_t k = ::write(fd, data, size);
  if (k < 0 && errno == EPIPE) {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
    }
  }
  return k == static_cast<ssize_t>(size);
}

bool write_line(int fd, const std::string& s) {
  const std::string line = s + "\n";  // < PIPE_BUF: written whole or not at all
  return write_fd(fd, line.data(), line.size());
}

Status spawn(Supervisor::Pipeline& p, const SupervisorOptions& o) {
  auto inst = std::make_unique<Instance>();
  auto port = p.pool->attach(p.spec.name + "#" + std::to_string(p.instances + 1));
  if (!port.ok()) return port.error();
  inst->port = *port;
  auto pool_fd = p.pool->reader_fd();
  if (!pool_fd.ok()) {
    p.pool->detach_and_reclaim(inst->port);
    return pool_fd.error();
  }
  int in_pipe[2], out_pipe[2], sock[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return make_error("supervisor.io", "pipe: " + errno_text());
  UniqueFd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return make_error("supervisor.io", "pipe: " + errno_text());
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) != 0)
    return make_error("supervisor.io", "socketpair: " + errno_text());
  UniqueFd sock_engine(sock[0]), sock_worker(sock[1]);

  UniqueFd c_in = high_copy(in_r.get()), c_out = high_copy(out_w.get()),
           c_pool = high_copy(pool_fd->get()), c_mbox = high_copy(inst->port->fd()),
           c_sock = high_copy(sock_worker.get());
  if (!c_in || !c_out || !c_pool || !c_mbox || !c_sock) {
    p.pool->detach_and_reclaim(inst->port);
    return make_error("supervisor.io", "fcntl(F_DUPFD_CLOEXEC): " + errno_text());
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, c_in.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, c_out.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, c_pool.get(), 3);
  posix_spawn_file_actions_adddup2(&fa, c_mbox.get(), 4);
  posix_spawn_file_actions_adddup2(&fa, c_sock.get(), 5);
  posix_spawn_file_actions_addclosefrom_np(&fa, 6);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  // Its own process group: a Ctrl-C at the terminal reaches the engine only, which then stops
  // its workers in order; they never die "crashed" in the middle of a clean shutdown. They die
  // with the engine anyway (PR_SET_PDEATHSIG).
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::string parent = std::to_string(::getpid());
  std::vector<std::string> args = p.spec.worker_command;  // the pipeline's own worker, if any
  if (args.empty()) {
    args = {o.worker_executable};
    args.insert(args.end(), o.worker_args.begin(), o.worker_args.end());
  }
  args.push_back("--parent-pid");
  args.push_back(parent);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, args[0].c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    p.pool->detach_and_reclaim(inst->port);
    return make_error("supervisor.spawn", "posix_spawn(" + args[0] + "): " + std::strerror(rc));
  }
  inst->pid = pid;
  inst->pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  inst->stdin_fd = std::move(in_w);
  inst->stdout_fd = std::move(out_r);
  inst->results_fd = std::move(sock_engine);
  (void)::fcntl(inst->stdin_fd.get(), F_SETFL, O_NONBLOCK);
  (void)::fcntl(inst->stdout_fd.get(), F_SETFL, O_NONBLOCK);
  (void)::fcntl(inst->results_fd.get(), F_SETFL, O_NONBLOCK);
  inst->spawned_ns = inst->last_reply_ns = inst->last_heartbeat_ns = mono_ns();

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
  // If this fails the worker sees end of input and exits; that exit is handled like any other.
  const std::string line = worker::encode_configure(c) + "\n";
  (void)write_fd(inst->stdin_fd.get(), line.data(), line.size());
  ++p.instances;
  if (p.state != "failed") p.state = "starting";
  p.inst = std::move(inst);
  return {};
}

void kill_instance(Instance& i, const std::string& reason) {
  if (i.killed) return;
  i.killed = true;
  if (i.kill_reason.empty()) i.kill_reason = reason;
  if (i.pidfd)
    (void)::syscall(SYS_pidfd_send_signal, i.pidfd.get(), SIGKILL, nullptr, 0);
  else
    ::kill(i.pid, SIGKILL);
}

void retire(Instance& i, Duration grace) {
  if (!i.kill_reason.empty()) return;
  i.kill_reason = "stopping";
  (void)write_line(i.stdin_fd.get(), worker::encode_simple("stop"));
  if (i.port) i.port->close();
  i.kill_at_ns = mono_ns() + grace.count_nanos();
}

// The frame loop marks progress in the mailbox at least every 100 ms while it waits, and before
// each inference. A worker that answers heartbeats (its control thread runs) and says it is not
// inside an inference, yet has not marked progress for longer than the heartbeat window, has a
// stuck frame loop: hung as well. The "not busy" reply must be newer than the last progress,
// so a long inference that began after the last reply is never mistaken for a stall.
bool loop_stalled(const Instance& i, int64_t now, const SupervisorOptions& o) {
  if (!i.ready || i.busy_ms >= 0 || !i.port) return false;
  const int64_t progress = std::max(i.ready_ns, i.port->stats().worker_progress.nanos());
  const int64_t window = (o.heartbeat_timeout + o.heartbeat_interval * 2).count_nanos();
  return now - progress > window && i.last_reply_ns > progress + o.heartbeat_interval.count_nanos();
}

void on_stdout(Supervisor::Pipeline& p, Instance& i, const Ctx&) {
  char buf[8192];
  for (;;) {
    const ssize_t k = ::read(i.stdout_fd.get(), buf, sizeof buf);
    if (k == 0) i.out_eof = true;  // a silent worker then fails its heartbeats
    if (k <= 0) break;
    i.out_buf.append(buf, static_cast<size_t>(k));
  }
  size_t nl;
  while ((nl = i.out_buf.find('\n')) != std::string::npos) {
    const std::string line = i.out_buf.substr(0, nl);
    i.out_buf.erase(0, nl + 1);
    auto m = worker::decode_control(line);
    if (!m.ok()) continue;        // not ours to crash on; the heartbeat decides health
    i.last_reply_ns = mono_ns();  // any message shows the process runs
    i.hello = true;
    if (m->type == "hello") {
      const bool protocol_ok = m->protocol == 0 || m->protocol == worker::kProtocolVersion;
      const bool abi_ok = m->abi == 0 || m->abi == static_cast<int>(ipc::kAbiVersion);
      if (!protocol_ok || !abi_ok) {
        i.fatal_reported = true;
        i.fatal_error = "protocol.mismatch: worker speaks protocol " + std::to_string(m->protocol) +
                        ", ABI " + std::to_string(m->abi) + "; this engine speaks protocol " +
                        std::to_string(worker::kProtocolVersion) + ", ABI " +
                        std::to_string(ipc::kAbiVersion);
        p.last_error = i.fatal_error;
        kill_instance(i, "failed");
      }
    } else if (m->type == "ready") {
      i.ready = true;
      i.ready_ns = mono_ns();
      p.state = "running";
    } else if (m->type == "heartbeat") {
      i.busy_ms = m->busy_ms;
    }
    if (m->type == "heartbeat" || m->type == "state" || m->type == "stopped") {
      // Counters only grow within one process; a reply without them (a worker that has no
      // gate, or a "stopped" line from a worker that sends no counters) leaves them as they are.
      i.motion_frames = std::max(i.motion_frames, m->motion_frames);
      i.motion_passed = std::max(i.motion_passed, m->motion_passed);
      i.motion_skipped = std::max(i.motion_skipped, m->motion_skipped);
    } else if (m->type == "error") {
      const std::string e = m->code + ": " + m->message;
      if (m->fatal) {
        i.fatal_reported = true;
        i.fatal_error = e;
      }
      p.last_error = e;
    }
  }
  if (i.out_buf.size() > (1u << 20)) i.out_buf.clear();  // a runaway line: drop it
}

void on_results(Supervisor::Pipeline& p, Instance& i, const Ctx& ctx) {
  static thread_local std::vector<char> buf(worker::kMaxResultBytes + 1);
  for (;;) {
    const ssize_t k = ::recv(i.results_fd.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (k < 0) break;
    if (k == 0) {  // SOCK_SEQPACKET: the worker closed its end
      i.results_eof = true;
      break;
    }
    if (static_cast<size_t>(k) > buf.size()) {
      ++p.bad_results;
      continue;
    }
    auto r = worker::decode_result(std::string_view(buf.data(), static_cast<size_t>(k)));
    if (!r.ok() || r->frame.stream != p.pool->stream_id()) {
      ++p.bad_results;
      if (!r.ok()) p.last_error = r.error().to_string();
      continue;
    }
    r->pipeline = p.spec.name;  // the socket says whose result it is, not the payload
    p.last_result_latency = r->done_time - r->frame.capture_time;
    ctx.results.put(std::move(r).value());
    ++p.results;
    p.last_result_time = ctx.clock.now();
    i.produced = true;
  }
}

// Returns true when the instance was reaped.
bool try_reap(Supervisor::Pipeline& p, bool stopping, const Ctx& ctx) {
  Instance& i = *p.inst;
  int status = 0;
  const pid_t r = ::waitpid(i.pid, &status, WNOHANG);
  if (r == 0) return false;
  // Drain what it said before dying (a fatal error line, last results).
  on_stdout(p, i, ctx);
  on_results(p, i, ctx);
  std::string reason, detail;
  if (r < 0) {
    reason = "crashed";
    detail = "lost track of the process: " + errno_text();
  } else if (WIFSIGNALED(status)) {
    detail = "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
             strsignal(WTERMSIG(status)) + ")";
    reason = "crashed";
  } else {
    detail = "exit status " + std::to_string(WEXITSTATUS(status));
    reason = WEXITSTATUS(status) == 0 ? "exited" : "crashed";
  }
  if (!i.kill_reason.empty())
    reason = i.kill_reason;
  else if (i.fatal_reported)
    reason = "failed";
  // The process is gone: take its mailbox and its leases back before anything else.
  if (i.port) {
    if (i.port->stats().lease_held) ++p.leases_reclaimed;
    p.pool->detach_and_reclaim(i.port);
    const ipc::MailboxStats m = i.port->stats();
    p.acc_offered += m.offered;
    p.acc_taken += m.taken;
    p.acc_dropped += m.dropped + m.pending;
  }
  p.acc_motion_frames += i.motion_frames;
  p.acc_motion_passed += i.motion_passed;
  p.acc_motion_skipped += i.motion_skipped;
  const bool produced = i.produced;
  const std::string fatal = i.fatal_error;
  p.inst.reset();
  if (reason == "stopping" || p.removing || stopping) {
    p.state = "stopped";
    p.next_start_ns = 0;
    return true;
  }
  ++p.restarts;
  ++p.reasons[reason];
  if (reason == "failed") {
    p.last_error = fatal;
    p.state = "failed";
  } else {
    p.last_error = reason + ": " + detail;
    p.state = "backoff";
  }
  Duration delay = ctx.o.backoff_initial;
  if (produced) {
    p.consecutive_failures = 0;
  } else {
    for (int k = 0; k < p.consecutive_failures && delay < ctx.o.backoff_max; ++k) delay = delay * 2;
    delay = std::min(delay, ctx.o.backoff_max);
    ++p.consecutive_failures;
  }
  p.next_start_ns = mono_ns() + delay.count_nanos();
  return true;
}

}  // namespace

void Supervisor::run() {
  pthread_setname_np(pthread_self(), "orion-supervise");
  // Writing to the stdin of a worker that just died raises SIGPIPE on this thread: keep it
  // blocked here (write_fd consumes it) so a host process that does not ignore SIGPIPE (a
  // test binary, an embedding program) is not killed. Spawned workers get an empty mask.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  const Ctx ctx{options_, *clock_, results_};
  enum Kind { kOut, kRes, kPid };
  struct Tag {
    Pipeline* p;
    Kind kind;
  };
  std::vector<pollfd> fds;
  std::vector<Tag> tags;
  for (;;) {
    fds.clear();
    tags.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    tags.push_back({nullptr, kOut});
    int timeout_ms = 50;
    {
      std::lock_guard lock(mu_);
      for (auto& [name, p] : pipelines_) {
        if (!p->inst) continue;
        Instance& i = *p->inst;
        if (!i.out_eof) {
          fds.push_back({i.stdout_fd.get(), POLLIN, 0});
          tags.push_back({p.get(), kOut});
        }
        if (!i.results_eof) {
          fds.push_back({i.results_fd.get(), POLLIN, 0});
          tags.push_back({p.get(), kRes});
        }
        if (i.pidfd) {
          fds.push_back({i.pidfd.get(), POLLIN, 0});
          tags.push_back({p.get(), kPid});
        }
      }
      timeout_ms = static_cast<int>(
          std::min<int64_t>(50, options_.heartbeat_interval.count_nanos() / 1'000'000));
    }
    ::poll(fds.data(), fds.size(), std::max(1, timeout_ms));

    std::lock_guard lock(mu_);
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
    }
    for (size_t k = 1; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      Pipeline& p = *tags[k].p;
      if (!p.inst) continue;
      if (tags[k].kind == kOut)
        on_stdout(p, *p.inst, ctx);
      else if (tags[k].kind == kRes)
        on_results(p, *p.inst, ctx);
    }
    const int64_t now = mono_ns();
    for (auto it = pipelines_.begin(); it != pipelines_.end();) {
      Pipeline& p = *it->second;
      if (p.inst) {
        Instance& i = *p.inst;
        if (try_reap(p, stopping_, ctx)) continue;  // re-examined on the next turn
        if (stopping_ || p.removing) retire(i, options_.stop_grace);
        if (i.kill_reason == "stopping") {
          if (now >= i.kill_at_ns) kill_instance(i, "stopping");
        } else if (!i.killed) {
          if (now - i.last_heartbeat_ns >= options_.heartbeat_interval.count_nanos()) {
            (void)write_line(i.stdin_fd.get(), worker::encode_heartbeat(++i.heartbeat_seq));
            i.last_heartbeat_ns = now;
          }
          // Before its first message the process is still starting (exec, dynamic linking):
          // that is bounded by startup_timeout, not by the heartbeat window.
          if (i.hello && now - i.last_reply_ns > options_.heartbeat_timeout.count_nanos()) {
            kill_instance(i, "hung");
          } else if (!i.ready && now - i.spawned_ns > options_.startup_timeout.count_nanos()) {
            kill_instance(i, "startup_timeout");
          } else if (i.busy_ms >= 0 &&
                     i.busy_ms * 1'000'000 > options_.detect_timeout.count_nanos()) {
            kill_instance(i, "hung");
          } else if (loop_stalled(i, now, options_)) {
            kill_instance(i, "hung");
          }
        }
        ++it;
        continue;
      }
      if (p.removing) {
        it = pipelines_.erase(it);
        continue;
      }
      if (!stopping_ && now >= p.next_start_ns) {
        Status st = spawn(p, options_);
        if (!st.ok()) {
          ++p.restarts;
          ++p.reasons["spawn_failed"];
          p.last_error = st.error().to_string();
          p.state = "failed";
          Duration delay = options_.backoff_initial;
          for (int k = 0; k < p.consecutive_failures && delay < options_.backoff_max; ++k)
            delay = delay * 2;
          ++p.consecutive_failures;
          p.next_start_ns = now + std::min(delay, options_.backoff_max).count_nanos();
        }
      }
      ++it;
    }
    if (stopping_) {
      bool any = false;
      for (auto& [name, p] : pipelines_) any = any || p->inst != nullptr;
      if (!any) {
        for (auto& [name, p] : pipelines_) p->state = "stopped";
        return;
      }
    }
  }
}

}  // namespace orion::engine
