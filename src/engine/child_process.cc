#include "engine/child_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

extern char** environ;

namespace orion::engine {

namespace {

using ipc::UniqueFd;

constexpr uint64_t kClonePidfd = 0x00001000;  // CLONE_PIDFD (linux/sched.h)

// struct clone_args, version 0 (64 bytes), as the kernel ABI defines it.
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

std::string errno_text(int e) { return std::strerror(e); }

Error io_error(const char* what) {
  return Error{"process.io", std::string(what) + ": " + errno_text(errno)};
}

// A close-on-exec copy numbered above every target, so the child's dup2 onto its fixed numbers
// never clobbers a source that happens to sit on one of them.
UniqueFd high_copy(int fd, int above) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, above + 1)); }

bool set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// Runs in the child between clone3 and execve: async-signal-safe calls only (the parent is
// multithreaded). Reports a failure's errno through `err_fd` and exits 127.
[[noreturn]] void child_exec(char* const* argv, const int* from, const int* to, int n, int max_fd,
                             int err_fd) {
  sigset_t empty;
  sigemptyset(&empty);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGPIPE})
    ::sigaction(sig, &dfl, nullptr);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  // Its own process group: a Ctrl-C at the terminal reaches the engine only, which then stops
  // its workers in order.
  (void)::setpgid(0, 0);
  int e = 0;
  for (int k = 0; k < n && e == 0; ++k)
    if (::dup2(from[k], to[k]) < 0) e = errno;  // dup2 clears close-on-exec on the copy
  if (e == 0) {
    // Everything else goes, except the error pipe (close-on-exec: it closes at execve).
    for (int fd = 3; fd <= max_fd; ++fd) {
      bool keep = fd == err_fd;
      for (int k = 0; k < n; ++k) keep = keep || fd == to[k];
      if (!keep) ::close(fd);
    }
    if (::syscall(SYS_close_range, static_cast<unsigned>(max_fd + 1), ~0u, 0) != 0) {
      // Older kernels: the loop above closed what matters below max_fd; higher ones are
      // close-on-exec copies made by spawn().
    }
    ::execve(argv[0], argv, environ);
    e = errno;
  }
  (void)!::write(err_fd, &e, sizeof e);
  ::_exit(127);
}

}  // namespace

std::string ExitStatus::describe() const {
  if (signaled) return "killed by signal " + std::to_string(code) + " (" + strsignal(code) + ")";
  return "exit status " + std::to_string(code);
}

Result<ChildProcess> ChildProcess::spawn(const SpawnSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty())
    return Error{"process.bad_spec", "no executable to run"};
  int max_target = std::max(2, spec.results_socket);
  for (const auto& [from, to] : spec.fds) {
    if (to < 3 || from < 0 || to == spec.results_socket)
      return Error{"process.bad_spec", "descriptor " + std::to_string(from) + " → " +
                                           std::to_string(to) + " is not a valid mapping"};
    max_target = std::max(max_target, to);
  }
  int in[2], out[2], sock[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return io_error("pipe2(stdin)");
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return io_error("pipe2(stdout)");
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) != 0)
    return io_error("socketpair(results)");
  UniqueFd sock_engine(sock[0]), sock_child(sock[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return io_error("pipe2(exec status)");
  UniqueFd err_r(err[0]), err_w(err[1]);

  // Sources above every target number, prepared before the clone: the child only dup2s.
  std::vector<UniqueFd> copies;
  std::vector<int> from, to;
  auto add = [&](int fd, int target) -> bool {
    copies.push_back(high_copy(fd, max_target));
    from.push_back(copies.back().get());
    to.push_back(target);
    return copies.back().valid();
  };
  bool ok = add(in_r.get(), 0) && add(out_w.get(), 1) && add(sock_child.get(), spec.results_socket);
  for (const auto& [f, t] : spec.fds) ok = ok && add(f, t);
  UniqueFd err_high = high_copy(err_w.get(), max_target);
  if (!ok || !err_high) return io_error("fcntl(F_DUPFD_CLOEXEC)");
  err_w.reset();
  int max_fd = err_high.get();
  for (int f : from) max_fd = std::max(max_fd, f);

  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  ChildProcess c;
  int pidfd = -1;
  long pid = -1;
  for (bool ns : {spec.own_pid_namespace, false}) {
    CloneArgs ca{};
    ca.flags = kClonePidfd | (ns ? static_cast<uint64_t>(CLONE_NEWPID) : 0);
    ca.pidfd = reinterpret_cast<uint64_t>(&pidfd);
    ca.exit_signal = SIGCHLD;
    pid = ::syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0)
      child_exec(argv.data(), from.data(), to.data(), static_cast<int>(from.size()), max_fd,
                 err_high.get());
    if (pid > 0) {
      c.own_ns_ = ns;
      break;
    }
    if (!ns || (errno != EPERM && errno != EINVAL && errno != ENOSPC && errno != EUSERS)) break;
  }
  if (pid < 0) return Error{"process.spawn", "clone3(" + spec.argv[0] + "): " + errno_text(errno)};
  c.pid_ = static_cast<pid_t>(pid);
  c.pidfd_.reset(pidfd);
  err_high.reset();
  copies.clear();
  int child_errno = 0;
  ssize_t k;
  do k = ::read(err_r.get(), &child_errno, sizeof child_errno);
  while (k < 0 && errno == EINTR);
  if (k == static_cast<ssize_t>(sizeof child_errno)) {
    (void)c.try_reap();  // it exits 127 right away; the destructor waits if it has not yet
    return Error{"process.spawn", "execve(" + spec.argv[0] + "): " + errno_text(child_errno)};
  }
  c.stdin_ = std::move(in_w);
  c.stdout_ = std::move(out_r);
  c.results_ = std::move(sock_engine);
  if (!set_nonblocking(c.stdin_.get()) || !set_nonblocking(c.stdout_.get()) ||
      !set_nonblocking(c.results_.get()))
    return io_error("fcntl(O_NONBLOCK)");  // the destructor kills and reaps the child
  return c;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, 0)),
      pidfd_(std::move(o.pidfd_)),
      stdin_(std::move(o.stdin_)),
      stdout_(std::move(o.stdout_)),
      results_(std::move(o.results_)),
      own_ns_(o.own_ns_),
      exit_(std::exchange(o.exit_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    release();
    pid_ = std::exchange(o.pid_, 0);
    pidfd_ = std::move(o.pidfd_);
    stdin_ = std::move(o.stdin_);
    stdout_ = std::move(o.stdout_);
    results_ = std::move(o.results_);
    own_ns_ = o.own_ns_;
    exit_ = std::exchange(o.exit_, std::nullopt);
  }
  return *this;
}

ChildProcess::~ChildProcess() { release(); }

void ChildProcess::release() {
  if (pid_ <= 0 || exit_) return;
  (void)kill();
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_ = ExitStatus{true, SIGKILL};
}

bool ChildProcess::send_line(const std::string& line) {
  if (!stdin_) return false;
  std::string data = line + "\n";
  // A full pipe (EAGAIN) means the child does not read its input: give up, never block.
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t k = ::write(stdin_.get(), data.data() + done, data.size() - done);
    if (k > 0) {
      done += static_cast<size_t>(k);
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno == EPIPE) block_sigpipe_on_this_thread();  // consume the raised SIGPIPE
    return false;
  }
  return true;
}

Status ChildProcess::kill() {
  if (pid_ <= 0 || exit_) return {};
  int rc =
      pidfd_ ? static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0))
             : ::kill(pid_, SIGKILL);
  if (rc != 0 && errno != ESRCH)
    return Error{"process.kill", "SIGKILL to " + std::to_string(pid_) + ": " + errno_text(errno)};
  if (!own_ns_) (void)::kill(-pid_, SIGKILL);  // its process group; ESRCH when already empty
  return {};
}

std::optional<ExitStatus> ChildProcess::try_reap() {
  if (pid_ <= 0) return std::nullopt;
  if (exit_) return exit_;
  int status = 0;
  pid_t r;
  do r = ::waitpid(pid_, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  ExitStatus s;
  if (r < 0) {
    s.signaled = false;
    s.code = -1;
  } else if (WIFSIGNALED(status)) {
    s.signaled = true;
    s.code = WTERMSIG(status);
  } else {
    s.code = WEXITSTATUS(status);
  }
  if (!own_ns_) (void)::kill(-pid_, SIGKILL);  // what it left in its process group
  exit_ = s;
  return s;
}

void block_sigpipe_on_this_thread() {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  const timespec zero{0, 0};
  while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
  }
}

}  // namespace orion::engine
