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
#include "engine/pipeline_runner.h"

namespace orion::engine {

const char* to_string(PipelineState s) {
  switch (s) {
    case PipelineState::kStarting:
      return "starting";
    case PipelineState::kRunning:
      return "running";
    case PipelineState::kBackoff:
      return "backoff";
    case PipelineState::kFailed:
      return "failed";
    case PipelineState::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, PipelineState s) { return os << to_string(s); }

struct Supervisor::Command {
  enum Kind { kAdd, kRemove } kind;
  std::unique_ptr<PipelineRuntime> pipeline;  // kAdd
  std::string name;
};

namespace {

void wake(int fd) {
  const uint64_t one = 1;
  if (fd >= 0) (void)!::write(fd, &one, sizeof one);
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
  MutexLock lock(mu_);
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
  auto p = std::make_unique<PipelineRuntime>();
  p->spec = std::move(spec);
  p->pool = std::move(pool);
  p->backoff = Backoff({options_.backoff_initial, options_.backoff_max, 2.0});
  PipelineStats first;
  first.name = p->spec.name;
  first.stream = p->spec.stream;
  first.sla = p->spec.sla;
  first.motion_gate = p->spec.motion_gate.enabled;
  MutexLock lock(mu_);
  if (stopping_) return make_error("supervisor.stopped", "supervisor is stopping");
  if (!names_.insert(first.name).second)
    return make_error("supervisor.duplicate", "pipeline '" + first.name + "' already exists");
  {
    MutexLock s(stats_mu_);
    published_[first.name] = first;
  }
  commands_.push_back(Command{Command::kAdd, std::move(p), first.name});
  wake(wake_fd_.load());
  return {};
}

Status Supervisor::remove_pipeline(const std::string& name) {
  MutexLock lock(mu_);
  if (names_.erase(name) == 0)
    return make_error("supervisor.unknown_pipeline", "no pipeline '" + name + "'");
  commands_.push_back(Command{Command::kRemove, nullptr, name});
  wake(wake_fd_.load());
  return {};
}

void Supervisor::stop() {
  {
    MutexLock lock(mu_);
    if (!started_) return;
    stopping_ = true;
    wake(wake_fd_.load());
  }
  if (thread_.joinable()) thread_.join();
  MutexLock lock(mu_);
  started_ = false;
}

std::vector<PipelineStats> Supervisor::stats() const {
  const Timestamp now = clock_->now();
  MutexLock lock(stats_mu_);
  std::vector<PipelineStats> out;
  for (const auto& [name, s] : published_) {
    out.push_back(s);
    if (s.last_result_time.is_set()) out.back().last_result_age = now - s.last_result_time;
  }
  return out;
}

std::optional<PipelineStats> Supervisor::stats(const std::string& pipeline) const {
  const Timestamp now = clock_->now();
  MutexLock lock(stats_mu_);
  auto it = published_.find(pipeline);
  if (it == published_.end()) return std::nullopt;
  PipelineStats s = it->second;
  if (s.last_result_time.is_set()) s.last_result_age = now - s.last_result_time;
  return s;
}

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
  const PipelineRunner loop(options_, *clock_, results_);
  {
    MutexLock lock(mu_);
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
  std::vector<std::pair<PipelineRuntime*, Kind>> tags{{nullptr, kOut}};
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
  const int timeout_ms = static_cast<int>(
      std::clamp<int64_t>(options_.heartbeat_interval.count_nanos() / 1'000'000, 1, 50));
  ::poll(fds.data(), fds.size(), timeout_ms);
  if (fds[0].revents & POLLIN) {
    uint64_t v;
    (void)!::read(fds[0].fd, &v, sizeof v);
  }
  for (size_t k = 1; k < fds.size(); ++k) {
    PipelineRuntime& p = *tags[k].first;
    if (fds[k].revents == 0 || !p.inst) continue;
    if (tags[k].second == kOut)
      loop.read_stdout(p, *p.inst, kStdoutBytesPerTurn);
    else
      loop.read_results(p, *p.inst, kDatagramsPerTurn);
  }

  const Timestamp now = clock_->now();
  for (auto it = pipelines_.begin(); it != pipelines_.end();) {
    PipelineRuntime& p = *it->second;
    try {
      if (p.inst) {
        if (!loop.try_reap(p, loop_stopping_)) {
          if (loop_stopping_ || p.removing) loop.retire(*p.inst, now);
          loop.check_health(p, *p.inst, now);
        }
      } else if (p.removing) {
        MutexLock lock(stats_mu_);
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
  const PipelineRunner runner(options_, *clock_, results_);
  const Timestamp now = clock_->now();
  std::vector<PipelineStats> snaps;
  snaps.reserve(pipelines_.size());
  for (const auto& [name, p] : pipelines_) snaps.push_back(runner.snapshot(*p, now));
  MutexLock lock(stats_mu_);
  for (PipelineStats& s : snaps) {
    const std::string name = s.name;
    published_[name] = std::move(s);
  }
}

}  // namespace orion::engine
