// The mailbox across real processes (fork): never an older frame, never the same twice, exact
// conservation of counts, and leases of a reader killed with SIGKILL taken back.
// A child reports through an anonymous shared mapping and its exit status; it never runs
// gtest assertions.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "ipc/frame_reader.h"
#include "ipc/shm_frame_pool.h"
#include "testing/watchdog.h"

namespace orion::ipc {
namespace {

constexpr int kW = 64, kH = 48;
constexpr size_t kMaxRecords = 20000;

// Written by one child, read by the parent after the child exited.
struct ChildLog {
  std::atomic<uint64_t> count;
  std::atomic<uint64_t> errors;
  std::atomic<uint32_t> holding;  // 1 once the child holds a lease (lease test)
  uint64_t held_sequence;
  uint64_t sequences[kMaxRecords];
};

ChildLog* shared_log() {
  void* p =
      ::mmap(nullptr, sizeof(ChildLog), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(p, MAP_FAILED);
  return new (p) ChildLog{};
}

std::shared_ptr<ShmFramePool> make_pool(uint32_t slots) {
  ShmFramePoolOptions o;
  o.stream_id = 1;
  o.stream_name = "proc";
  o.slot_count = slots;
  o.slot_capacity = size_t{kW} * kH * 3;
  return *ShmFramePool::create(o);
}

Status publish(ShmFramePool& pool, uint64_t seq) {
  auto r = pool.acquire(FrameLayout::packed(PixelFormat::kBGR24, kW, kH));
  if (!r.ok()) return r.error();
  MutableFramePtr f = std::move(r).value();
  std::memset(f->mutable_data(), static_cast<int>(seq % 251), f->size());
  f->set_identity(FrameIdentity{1, seq, Duration::millis(static_cast<int64_t>(seq)),
                                SteadyClock::instance().now()});
  return pool.publish(freeze(std::move(f)));
}

// Forks a reader that takes frames until the mailbox closes, checks each frame's pixels and
// ordering, optionally spinning `work_us` per frame, and logs the sequences it took.
pid_t fork_reader(ShmFramePool& pool, MailboxPort& port, ChildLog* log, int work_us) {
  auto pool_fd = pool.reader_fd();
  const int mbox_fd = ::dup(port.fd());
  const pid_t pid = ::fork();
  if (pid != 0) {
    ::close(mbox_fd);
    return pid;
  }
  auto rd = FrameReader::open(std::move(pool_fd).value(), UniqueFd(mbox_fd));
  if (!rd.ok()) ::_exit(10);
  uint64_t last = 0;
  for (;;) {
    auto f = (*rd)->next_frame(Duration::seconds(20));
    if (!f.ok()) ::_exit(f.error().code == "closed" ? 0 : 11);
    const Frame& fr = **f;
    const uint64_t seq = fr.identity().sequence;
    const auto expect = static_cast<uint8_t>(seq % 251);
    if (seq <= last || fr.data()[0] != expect || fr.data()[fr.size() - 1] != expect)
      log->errors.fetch_add(1);
    last = seq;
    const uint64_t n = log->count.load();
    if (n < kMaxRecords) log->sequences[n] = seq;
    log->count.store(n + 1);
    if (work_us > 0) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(work_us);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
  }
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(MailboxProcessTest, NeverOlderNeverTwiceAndCountsConserveAcrossProcesses) {
  orion::testing::Watchdog dog(Duration::seconds(60), "mailbox semantics across processes");
  auto pool = make_pool(8);
  auto fast = *pool->attach("fast");
  auto slow = *pool->attach("slow");
  ChildLog* fast_log = shared_log();
  ChildLog* slow_log = shared_log();
  const pid_t a = fork_reader(*pool, *fast, fast_log, 0);
  const pid_t b = fork_reader(*pool, *slow, slow_log, 300);

  constexpr uint64_t kFrames = 3000;
  for (uint64_t s = 1; s <= kFrames; ++s) {
    Status st = publish(*pool, s);
    ASSERT_TRUE(st.ok()) << st.error().to_string();  // never exhausted: 1 + 2 per mailbox <= 8
    // Pacing, not synchronisation: the producer pauses briefly every 64 frames, a camera's
    // bursts, so the readers also see idle mailboxes (and sleep on the futex) between bursts.
    // No assertion depends on it: the counts are exact whatever the interleaving.
    if (s % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  fast->close();
  slow->close();
  EXPECT_EQ(wait_exit(a), 0);
  EXPECT_EQ(wait_exit(b), 0);

  for (auto [port, log] : {std::pair{fast, fast_log}, std::pair{slow, slow_log}}) {
    const MailboxStats s = port->stats();
    SCOPED_TRACE(s.name);
    EXPECT_EQ(log->errors.load(), 0u);  // pixels right, sequences strictly increasing
    EXPECT_EQ(s.offered, kFrames);
    EXPECT_EQ(s.pending, 0u);  // closed: a pending frame became a drop
    EXPECT_EQ(s.offered, s.taken + s.dropped + s.pending);
    EXPECT_EQ(s.taken, log->count.load());
    EXPECT_EQ(s.worker_taken, log->count.load());
    EXPECT_GT(s.taken, 0u);
    for (uint64_t i = 1; i < std::min<uint64_t>(log->count.load(), kMaxRecords); ++i)
      ASSERT_LT(log->sequences[i - 1], log->sequences[i]);
  }
  EXPECT_GT(slow->stats().dropped, 0u);  // the slow reader skipped frames: newest only
  pool->detach_and_reclaim(fast);
  pool->detach_and_reclaim(slow);
  EXPECT_EQ(pool->stats().in_use, 0u);
}

TEST(MailboxProcessTest, LeasesOfAReaderKilledWithSigkillAreReclaimed) {
  orion::testing::Watchdog dog(Duration::seconds(60), "lease reclaim after SIGKILL");
  auto pool = make_pool(4);
  auto port = *pool->attach("victim");
  ChildLog* log = shared_log();
  auto pool_fd = pool->reader_fd();
  const int mbox_fd = ::dup(port->fd());
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto rd = FrameReader::open(std::move(pool_fd).value(), UniqueFd(mbox_fd));
    if (!rd.ok()) ::_exit(10);
    auto f = (*rd)->next_frame(Duration::seconds(20));
    if (!f.ok()) ::_exit(11);
    log->held_sequence = (*f)->identity().sequence;
    log->holding.store(1);
    for (;;) ::pause();  // "mid-frame": holds the lease until killed
  }
  ::close(mbox_fd);
  ASSERT_TRUE(publish(*pool, 1).ok());
  while (log->holding.load() == 0) std::this_thread::yield();
  EXPECT_EQ(log->held_sequence, 1u);
  EXPECT_TRUE(port->stats().lease_held);

  // While the lease is held the writer cycles the other slots only.
  for (uint64_t s = 2; s <= 50; ++s) ASSERT_TRUE(publish(*pool, s).ok());
  EXPECT_EQ(pool->stats().in_use, 2u);  // the lease + the pending offer

  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
  pool->detach_and_reclaim(port);
  const ShmPoolStats s = pool->shm_stats();
  EXPECT_EQ(s.in_use, 0u);  // back to baseline: no slot leaked
  EXPECT_EQ(s.leases_reclaimed, 1u);
  EXPECT_EQ(s.offers_reclaimed, 1u);
  // Every slot can be used again.
  std::vector<MutableFramePtr> all;
  for (int i = 0; i < 4; ++i) {
    auto r = pool->acquire(FrameLayout::packed(PixelFormat::kBGR24, kW, kH));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    all.push_back(std::move(r).value());
  }
}

}  // namespace
}  // namespace orion::ipc
