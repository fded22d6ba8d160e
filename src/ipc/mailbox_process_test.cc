// The mailbox across real processes (fork): never an older frame, never the same twice, exact
// conservation of counts, counts a reader that scribbles over its mailbox cannot falsify, and
// leases of a reader killed with SIGKILL taken back.
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
#include "ipc/futex.h"
#include "ipc/layout.h"
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

// Lock-step between the engine (parent) and a scripted reader (child): the parent publishes
// frame i and raises `step` to i; the child does script step i and raises `ack` to i. Both
// sleep on the words with futexes (the mapping is MAP_SHARED), never on a timer.
struct Lockstep {
  std::atomic<uint32_t> step;
  std::atomic<uint32_t> ack;
};

void raise_to(std::atomic<uint32_t>& word, uint32_t v) {
  word.store(v);
  futex_wake(&word, 1 << 30);
}

void wait_for(std::atomic<uint32_t>& word, uint32_t v) {
  for (uint32_t seen = word.load(); seen < v; seen = word.load())
    futex_wait(&word, seen, Duration::seconds(1));
}

Lockstep* shared_lockstep() {
  void* p =
      ::mmap(nullptr, sizeof(Lockstep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(p, MAP_FAILED);
  return new (p) Lockstep{};
}

void expect_conserved(const MailboxStats& s) {
  EXPECT_EQ(s.offered, s.taken + s.dropped + s.pending)
      << "offered " << s.offered << " taken " << s.taken << " dropped " << s.dropped << " pending "
      << s.pending;
}

// The child writes every word of its mailbox that a worker can write, as a hostile worker
// would; the engine's counts must still say exactly what the engine did.
TEST(MailboxProcessTest, AReaderScribblingOverItsMailboxCannotFalsifyTheEngineCounts) {
  orion::testing::Watchdog dog(Duration::seconds(60), "scribbling reader");
  auto pool = make_pool(8);
  auto port = *pool->attach("scribbler");
  Lockstep* ls = shared_lockstep();
  constexpr uint64_t kGarbage = make_token(2, 999'999);  // a real slot, a generation never used
  constexpr uint64_t kForeverLease = make_token(1, 424'242);
  const int mbox_fd = ::dup(port->fd());
  const pid_t pid = ::fork();
  if (pid == 0) {
    void* p = ::mmap(nullptr, kMailboxSegmentSize, PROT_READ | PROT_WRITE, MAP_SHARED, mbox_fd, 0);
    if (p == MAP_FAILED) ::_exit(10);
    auto* b = static_cast<MailboxBlock*>(p);
    auto take = [b] {  // the correct protocol: lease, then CAS the offer to 0
      const uint64_t t = b->offer.load();
      b->lease.store(t);
      uint64_t expected = t;
      if (t == kNoToken || !b->offer.compare_exchange_strong(expected, kNoToken)) ::_exit(11);
      b->taken.fetch_add(1);
      b->lease.store(kNoToken);
    };
    for (uint32_t i = 1; i <= 8; ++i) {
      wait_for(ls->step, i);
      switch (i) {
        case 1:
          take();
          break;
        case 2:
          break;  // leaves frame 2 to be replaced
        case 3:
          b->offer.store(kGarbage);
          break;  // overwrites the pending frame 3
        case 4:   // lies in every counter, then takes frame 4
          b->offered.store(1'000'000);
          b->dropped.store(999'999);
          b->taken.store(777);
          b->notify_seq.store(0);
          take();
          break;
        case 5:
          b->offer.store(kNoToken);
          break;  // takes frame 5 without a lease
        case 6:
          b->flags.store(kMailboxClosed);
          break;  // pretends to be closed
        case 7:   // reopens, and leases forever
          b->flags.store(0);
          b->lease.store(kForeverLease);
          break;
        case 8:
          b->flags.store(0);
          break;  // after the engine closed it: pretends it is open
      }
      raise_to(ls->ack, i);
    }
    ::_exit(0);
  }
  ::close(mbox_fd);
  ASSERT_GT(pid, 0);
  auto* mirror = static_cast<const MailboxBlock*>(
      ::mmap(nullptr, kMailboxSegmentSize, PROT_READ, MAP_SHARED, port->fd(), 0));
  ASSERT_NE(static_cast<const void*>(mirror), MAP_FAILED);
  auto step = [&](uint32_t i) {
    raise_to(ls->step, i);
    wait_for(ls->ack, i);
  };

  for (uint64_t s = 1; s <= 3; ++s) {
    ASSERT_TRUE(publish(*pool, s).ok());
    step(static_cast<uint32_t>(s));
  }
  // Frame 3 is gone from the offer word but not by a take: seen at once, counted once.
  MailboxStats m = port->stats();
  expect_conserved(m);
  EXPECT_EQ(m.scribbled, 1u);
  EXPECT_EQ(m.pending, 0u);
  for (uint64_t s = 4; s <= 5; ++s) {
    ASSERT_TRUE(publish(*pool, s).ok());
    step(static_cast<uint32_t>(s));
  }
  m = port->stats();
  expect_conserved(m);
  EXPECT_EQ(m.offered, 5u);               // not the 1'000'000 the child wrote
  EXPECT_EQ(mirror->offered.load(), 5u);  // the engine rewrote its mirror at the next offer
  EXPECT_EQ(mirror->dropped.load(), 1u);
  EXPECT_EQ(m.worker_taken, 778u);  // the worker's claim is reported, not believed
  for (uint64_t s = 6; s <= 7; ++s) {
    ASSERT_TRUE(publish(*pool, s).ok());  // offered although the shared flag said "closed"
    step(static_cast<uint32_t>(s));
  }
  m = port->stats();
  expect_conserved(m);
  EXPECT_EQ(m.pending, 1u);  // frame 7
  EXPECT_EQ(m.lease_token, kForeverLease);
  EXPECT_TRUE(m.lease_held);
  port->close();
  ASSERT_TRUE(publish(*pool, 8).ok());
  step(8);
  ASSERT_TRUE(publish(*pool, 9).ok());  // the shared flag says "open" again: still closed
  EXPECT_EQ(wait_exit(pid), 0);

  m = port->stats();
  expect_conserved(m);
  EXPECT_EQ(m.offered, 7u);
  EXPECT_EQ(m.taken, 4u);    // 1, 3 (overwritten), 4, 5
  EXPECT_EQ(m.dropped, 3u);  // 2 and 6 replaced, 7 closed
  EXPECT_EQ(m.pending, 0u);
  EXPECT_EQ(m.scribbled,
            2u);  // its forged offer word, and its forever lease of a frame never offered
  EXPECT_TRUE(m.closed);
  EXPECT_EQ(mirror->offered.load(), 7u);
  EXPECT_EQ(mirror->dropped.load(), 3u);
  using D = MailboxPort::Delivery;
  const D expected[] = {D::kNeverOffered, D::kTaken,       D::kDropped, D::kTaken,
                        D::kTaken,        D::kTaken,       D::kDropped, D::kDropped,
                        D::kNeverOffered, D::kNeverOffered};
  for (uint64_t s = 0; s <= 9; ++s)
    EXPECT_EQ(port->delivery(s), expected[s])
        << "sequence " << s << ": " << to_string(port->delivery(s));
  ::munmap(const_cast<MailboxBlock*>(mirror), kMailboxSegmentSize);
  pool->detach_and_reclaim(port);
  EXPECT_EQ(pool->stats().in_use, 0u);  // the forever lease is taken back with the mailbox
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
