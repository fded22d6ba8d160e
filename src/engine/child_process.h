// ChildProcess: one child process the engine started, and the descriptors the engine holds to
// talk to it — process plumbing only, no policy (that is worker_health.h and supervisor.cc).
//
//   spawn(spec) ── clone3(CLONE_PIDFD [| CLONE_NEWPID]) → child: own process group, empty signal
//                  mask, default dispositions, the spec's descriptors dup2'ed to fixed numbers,
//                  every other descriptor closed, execve (no shell)
//   engine end:    stdin (write, non-blocking), stdout (read, non-blocking), one SOCK_SEQPACKET
//                  socket (read, non-blocking), a pidfd for poll() and for signals
//
// PID namespace: by default the child is the first process (PID 1) of a PID namespace of its
// own, so when it dies the kernel kills every process it left behind — children that called
// setsid() or cleared their PDEATHSIG included. Where the engine may not create one (no
// CAP_SYS_ADMIN), spawn falls back to a plain child in its own process group, and kill() also
// kills that group; in_own_pid_namespace() says which (docs/adr/0036-worker-sandbox.md).
// An execve failure is reported by spawn() with the child's errno (through a close-on-exec pipe),
// not discovered later as a mysterious exit 127.
//
// Lifecycle: spawn() → kill() any number of times → try_reap() until it returns the exit →
// destruction. The destructor of a child not yet reaped kills it and waits for it (bounded by
// the kernel: SIGKILL cannot be caught), so no zombie and no orphan outlives the object.
// Thread-safety: thread-compatible; one owner thread (the supervisor's).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "ipc/unique_fd.h"

namespace orion::engine {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0]: path of the executable (required)
  // Descriptors of the parent the child gets, at fixed numbers >= 3 (stdin/stdout are made by
  // spawn). The parent keeps ownership of the sources.
  std::vector<std::pair<int, int>> fds;  // {source in the parent, number in the child}
  int results_socket = 5;  // the child's end of the results SOCK_SEQPACKET pair, at this number
  bool own_pid_namespace = true;
};

struct ExitStatus {
  bool signaled = false;
  int code = 0;                  // exit status, or the signal number when signaled
  std::string describe() const;  // "exit status 3", "killed by signal 9 (Killed)"
};

class ChildProcess {
 public:
  // Error codes: "process.bad_spec", "process.io" (pipe/socketpair/fcntl, with errno text),
  // "process.spawn" (clone3 or execve failed in the child: names the executable and errno).
  static Result<ChildProcess> spawn(const SpawnSpec& spec);

  ChildProcess(ChildProcess&&) noexcept;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }  // in the engine's PID namespace
  int pidfd() const { return pidfd_.get(); }
  int stdin_fd() const { return stdin_.get(); }
  int stdout_fd() const { return stdout_.get(); }
  int results_fd() const { return results_.get(); }
  bool in_own_pid_namespace() const { return own_ns_; }

  // Writes all of `line` + '\n' to the child's stdin if the pipe takes it without blocking;
  // false when it does not (full pipe: a worker that does not read) or the child is gone.
  // SIGPIPE is never raised (MSG-less pipe: the caller's thread must block SIGPIPE; see
  // block_sigpipe_on_this_thread()).
  bool send_line(const std::string& line);
  // Stop writing: the child sees end of input.
  void close_stdin() { stdin_.reset(); }
  void close_stdout() { stdout_.reset(); }
  void close_results() { results_.reset(); }

  // SIGKILL to the child (and to its process group when it has no PID namespace of its own).
  // Error "process.kill" when the kernel refused (never for a child that already exited).
  Status kill();
  // The exit, once the child ended and has been reaped (the same value on every later call);
  // nullopt while it runs.
  std::optional<ExitStatus> try_reap();
  bool reaped() const { return exit_.has_value(); }

 private:
  ChildProcess() = default;
  void release();

  pid_t pid_ = 0;
  ipc::UniqueFd pidfd_, stdin_, stdout_, results_;
  bool own_ns_ = false;
  std::optional<ExitStatus> exit_;
};

// Blocks SIGPIPE on the calling thread and consumes any pending one, so that writing to the
// stdin of a child that just died cannot kill a host process that does not ignore SIGPIPE.
void block_sigpipe_on_this_thread();

}  // namespace orion::engine
