// ChildProcess with real processes: exec errors, descriptors, kill and reap, PID namespace.
#include "engine/child_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "testing/wait.h"

namespace orion::engine {
namespace {

// Everything the child writes until it closes its stdout, waiting on poll() (an event).
std::string read_all(int fd) {
  std::string out;
  char buf[256];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) break;
    const ssize_t k = ::read(fd, buf, sizeof buf);
    if (k > 0)
      out.append(buf, static_cast<size_t>(k));
    else if (k == 0 || errno != EAGAIN)
      break;
  }
  return out;
}

// Its exit, waiting on the pidfd (readable once the process ended).
std::optional<ExitStatus> wait_exit(ChildProcess& c) {
  pollfd p{c.pidfd(), POLLIN, 0};
  if (::poll(&p, 1, 10'000) != 1) return std::nullopt;
  return c.try_reap();
}

TEST(ChildProcess, AnExecutableThatDoesNotExistIsASpawnErrorWithErrno) {
  auto c = ChildProcess::spawn(SpawnSpec{{"/nonexistent/worker"}, {}, 5, true});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "process.spawn");
  EXPECT_NE(c.error().message.find("No such file"), std::string::npos) << c.error().message;
}

TEST(ChildProcess, TheChildGetsItsDescriptorsAtFixedNumbersAndNothingElse) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  // fd 3 in the child is the read end of our pipe; 0/1 are ours; 5 the results socket.
  auto c = ChildProcess::spawn(SpawnSpec{
      {"/bin/sh", "-c",
       "for f in 0 1 2 3 4 5 6 7 8 9 10 11 12; do [ -e /proc/self/fd/$f ] && printf '%s ' $f; done;"
       " read x <&3; echo \"got $x\""},
      {{p[0], 3}},
      5,
      true});
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_EQ(::write(p[1], "hi\n", 3), 3);
  ::close(p[1]);
  ::close(p[0]);
  const std::string out = read_all(c->stdout_fd());
  EXPECT_EQ(out.rfind("0 1 2 3 5 got hi", 0), 0u) << out;
  auto e = wait_exit(*c);
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->signaled);
  EXPECT_EQ(e->code, 0);
}

TEST(ChildProcess, KillThenReapReportsTheSignal) {
  auto c = ChildProcess::spawn(SpawnSpec{{"/bin/sleep", "30"}, {}, 5, true});
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_FALSE(c->try_reap().has_value());
  ASSERT_TRUE(c->kill().ok());
  auto e = wait_exit(*c);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->signaled);
  EXPECT_EQ(e->code, SIGKILL);
  EXPECT_EQ(e->describe().rfind("killed by signal 9", 0), 0u) << e->describe();
  EXPECT_TRUE(c->kill().ok());  // again, on a reaped child: nothing to do, no error
}

TEST(ChildProcess, ChildrenThatEscapeWithSetsidDieWithTheirParent) {
  // The child starts a grandchild in a session of its own (no PDEATHSIG), then waits.
  const std::string marker = "orion-child-process-test-" + std::to_string(::getpid());
  auto c = ChildProcess::spawn(SpawnSpec{
      {"/bin/sh", "-c", "setsid /bin/bash -c 'exec -a " + marker + " sleep 60' & exec sleep 60"},
      {},
      5,
      true});
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  auto alive = [&] {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::ifstream cmd(entry.path() / "cmdline");
      std::string s;
      std::getline(cmd, s, '\0');
      if (s == marker) return true;
    }
    return false;
  };
  ASSERT_TRUE(orion::testing::wait_until(alive, Duration::seconds(10), Duration::millis(5)));
  if (!c->in_own_pid_namespace()) GTEST_SKIP() << "no PID namespace here (needs CAP_SYS_ADMIN)";
  ASSERT_TRUE(c->kill().ok());
  ASSERT_TRUE(wait_exit(*c).has_value());
  EXPECT_TRUE(orion::testing::wait_until([&] { return !alive(); }, Duration::seconds(10),
                                         Duration::millis(5)))
      << "the setsid grandchild outlived its parent";
}

TEST(ChildProcess, TheDestructorKillsAndReapsARunningChild) {
  pid_t pid = 0;
  {
    auto c = ChildProcess::spawn(SpawnSpec{{"/bin/sleep", "30"}, {}, 5, true});
    ASSERT_TRUE(c.ok());
    pid = c->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: no such process (not even a zombie)
  EXPECT_EQ(errno, ESRCH);
}

TEST(ChildProcess, BadSpecsAreRefused) {
  EXPECT_EQ(ChildProcess::spawn(SpawnSpec{}).error().code, "process.bad_spec");
  EXPECT_EQ(ChildProcess::spawn(SpawnSpec{{"/bin/true"}, {{0, 1}}, 5, true}).error().code,
            "process.bad_spec");
}

}  // namespace
}  // namespace orion::engine
