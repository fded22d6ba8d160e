// What a hostile reader process can do to the shared memory of ShmFramePool, tried for real:
// a forked child (standing in for a worker) attacks the pool and its mailbox descriptors the
// way a worker could (reopening /proc/self/fd and /proc/<engine>/fd read-write, using an
// inherited read-write descriptor as pidfd_getfd would hand it one, ftruncate), and the
// engine side checks that every attempt was refused and that nothing it owns changed.
// A child reports through an anonymous shared mapping and its exit status; it never runs
// gtest assertions. The counts a scribbling child cannot falsify: mailbox_process_test.cc.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ipc/frame_reader.h"
#include "ipc/layout.h"
#include "ipc/shm_frame_pool.h"
#include "testing/watchdog.h"

namespace orion::ipc {
namespace {

constexpr int kW = 64, kH = 48;
constexpr uint8_t kPixel = 1;  // what the engine wrote
constexpr uint8_t kEvil = 0xEE;

// Written by the child, read by the parent after the child exited.
struct AttackLog {
  std::atomic<uint32_t> writable_fds;  // read-write descriptors of the pool the child obtained
  std::atomic<uint32_t> attempts;      // attacks tried
  std::atomic<uint32_t> succeeded;     // attacks the kernel allowed (must stay 0)
  char first_success[160];             // which one, for the failure message
};

AttackLog* shared_log() {
  void* p =
      ::mmap(nullptr, sizeof(AttackLog), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(p, MAP_FAILED);
  return new (p) AttackLog{};
}

void record(AttackLog* log, bool allowed, const char* what, int fd) {
  log->attempts.fetch_add(1);
  if (!allowed) return;
  if (log->succeeded.fetch_add(1) == 0)
    std::snprintf(log->first_success, sizeof log->first_success, "%s (fd %d)", what, fd);
}

std::shared_ptr<ShmFramePool> make_pool() {
  ShmFramePoolOptions o;
  o.stream_id = 1;
  o.stream_name = "hostile";
  o.slot_count = 4;
  o.slot_capacity = size_t{kW} * kH * 3;
  auto p = ShmFramePool::create(o);
  EXPECT_TRUE(p.ok()) << p.error().to_string();
  return *p;
}

FramePtr publish(ShmFramePool& pool, uint64_t seq, uint8_t value) {
  auto r = pool.acquire(FrameLayout::packed(PixelFormat::kBGR24, kW, kH));
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  MutableFramePtr f = std::move(r).value();
  std::memset(f->mutable_data(), value, f->size());
  f->set_identity(FrameIdentity{1, seq, Duration::millis(static_cast<int64_t>(seq)),
                                SteadyClock::instance().now()});
  FramePtr frozen = freeze(std::move(f));
  const Status st = pool.publish(frozen);
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  return frozen;
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool all_bytes(const Frame& f, uint8_t v) {
  for (size_t i = 0; i < f.size(); ++i)
    if (f.data()[i] != v) return false;
  return true;
}

// ---- the child's side (plain syscalls only) ---------------------------------------------------

// Every way a writable mapping or a write could get at the segment behind a read-write `fd`.
void attack_writable_fd(int fd, const PoolGeometry& geo, AttackLog* log) {
  log->writable_fds.fetch_add(1);
  const size_t size = geo.segment_size;
  const off_t payload = static_cast<off_t>(geo.payload_offset);
  uint8_t evil[256];
  std::memset(evil, kEvil, sizeof evil);
  record(log, ::pwrite(fd, evil, sizeof evil, payload) > 0, "pwrite", fd);
  void* rw = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  record(log, rw != MAP_FAILED, "mmap(PROT_WRITE, MAP_SHARED)", fd);
  if (rw != MAP_FAILED) {
    std::memset(static_cast<uint8_t*>(rw) + payload, kEvil, size - payload);
    ::munmap(rw, size);
  }
  void* ro = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (ro != MAP_FAILED) {
    const bool up = ::mprotect(ro, size, PROT_READ | PROT_WRITE) == 0;
    record(log, up, "mprotect(PROT_WRITE) of a read-only MAP_SHARED mapping", fd);
    if (up) std::memset(static_cast<uint8_t*>(ro) + payload, kEvil, size - payload);
    ::munmap(ro, size);
  }
  record(log,
         ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, payload,
                     static_cast<off_t>(size) - payload) == 0,
         "fallocate(PUNCH_HOLE)", fd);
  record(log, ::ftruncate(fd, 0) == 0, "ftruncate(0)", fd);
}

// Opens `path` read-write; attacks through it when the kernel lets it open.
void attack_path(const char* path, const PoolGeometry& geo, AttackLog* log) {
  const int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;  // EACCES for a non-root user: the pool is mode 0400
  attack_writable_fd(fd, geo, log);
  ::close(fd);
}

// Every descriptor in /proc/<pid>/fd that names the pool's memfd: reopened read-write, and
// (for our own, inherited ones) used as they are when they are read-write already.
void attack_every_pool_fd(const char* pid, const PoolGeometry& geo, AttackLog* log) {
  char dir_path[64];
  std::snprintf(dir_path, sizeof dir_path, "/proc/%s/fd", pid);
  DIR* dir = ::opendir(dir_path);
  if (dir == nullptr) return;
  const bool self = std::strcmp(pid, "self") == 0;
  while (const dirent* e = ::readdir(dir)) {
    char path[400], target[256];
    std::snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
    const ssize_t n = ::readlink(path, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::strstr(target, "memfd:orion-pool-hostile") == nullptr) continue;
    attack_path(path, geo, log);
    const int fd = std::atoi(e->d_name);
    if (self && fd != ::dirfd(dir) && (::fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR)
      attack_writable_fd(fd, geo, log);  // the engine's own descriptor, inherited
  }
  ::closedir(dir);
}

// ---- tests ------------------------------------------------------------------------------------

TEST(ShmFramePoolHostileTest, AReaderThatReopensThePoolReadWriteCannotChangeAPixel) {
  orion::testing::Watchdog dog(Duration::seconds(60), "pool write attacks");
  auto pool = make_pool();
  auto port = *pool->attach("attacker");
  FramePtr engine_view = publish(*pool, 1, kPixel);
  const PoolGeometry geo = pool->geometry();
  AttackLog* log = shared_log();
  auto reader_fd = pool->reader_fd();
  ASSERT_TRUE(reader_fd.ok()) << reader_fd.error().to_string();
  const int ro = reader_fd->get();
  char parent[32];
  std::snprintf(parent, sizeof parent, "%d", static_cast<int>(::getpid()));

  const pid_t pid = ::fork();
  if (pid == 0) {
    // The descriptor a worker is given: read-only, and it cannot be upgraded in place.
    void* w = ::mmap(nullptr, geo.segment_size, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    record(log, w != MAP_FAILED, "mmap(PROT_WRITE) of the reader fd", ro);
    void* r = ::mmap(nullptr, geo.segment_size, PROT_READ, MAP_SHARED, ro, 0);
    if (r != MAP_FAILED)
      record(log, ::mprotect(r, geo.segment_size, PROT_READ | PROT_WRITE) == 0,
             "mprotect of the reader fd's mapping", ro);
    const uint8_t evil = kEvil;
    record(log, ::pwrite(ro, &evil, 1, static_cast<off_t>(geo.payload_offset)) > 0,
           "pwrite of the reader fd", ro);
    // Every other way to a read-write descriptor: /proc/self/fd (the reader fd reopened, and
    // the engine's inherited one), then the engine's own /proc/<pid>/fd.
    attack_every_pool_fd("self", geo, log);
    attack_every_pool_fd(parent, geo, log);
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  ASSERT_EQ(wait_exit(pid), 0);
  std::printf("%u attacks, %u read-write descriptors of the pool obtained, %u allowed\n",
              log->attempts.load(), log->writable_fds.load(), log->succeeded.load());

  EXPECT_EQ(log->succeeded.load(), 0u) << "first attack the kernel allowed: " << log->first_success;
  // The seals themselves were tried: at least the inherited read-write descriptor (which a
  // worker could get with pidfd_getfd) was attacked, whatever the mode allows to reopen.
  EXPECT_GE(log->writable_fds.load(), 1u);
  EXPECT_GE(log->attempts.load(), 3u + 5u);
  // Nothing changed, as the engine and a fresh reader see it.
  EXPECT_TRUE(all_bytes(*engine_view, kPixel));
  struct stat st {};
  ASSERT_EQ(::fstat(ro, &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), geo.segment_size);
  auto rd = FrameReader::open(std::move(reader_fd).value(), UniqueFd(::dup(port->fd())));
  ASSERT_TRUE(rd.ok()) << rd.error().to_string();  // the pool header still validates
  auto f = (*rd)->next_frame(Duration::seconds(5));
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_EQ((*f)->identity().sequence, 1u);
  EXPECT_TRUE(all_bytes(**f, kPixel));
}

TEST(ShmFramePoolHostileTest, AReaderCannotResizeItsMailboxAndTheEngineKeepsUsingIt) {
  orion::testing::Watchdog dog(Duration::seconds(60), "mailbox ftruncate");
  auto pool = make_pool();
  auto port = *pool->attach("truncator");
  publish(*pool, 1, kPixel);
  AttackLog* log = shared_log();
  const int mbox = ::dup(port->fd());
  const pid_t pid = ::fork();
  if (pid == 0) {
    record(log, ::ftruncate(mbox, 0) == 0, "ftruncate(mailbox, 0)", mbox);
    record(log, ::ftruncate(mbox, 1 << 20) == 0, "ftruncate(mailbox, 1 MiB)", mbox);
    record(log, ::fallocate(mbox, 0, 0, 1 << 20) == 0, "fallocate(mailbox, 1 MiB)", mbox);
    // Through a reopened descriptor: the seals belong to the object, not to the descriptor.
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", mbox);
    const int again = ::open(path, O_RDWR | O_CLOEXEC);
    if (again >= 0) record(log, ::ftruncate(again, 0) == 0, "ftruncate(reopened mailbox)", again);
    // No seal can be added (or the worker could forbid the engine a future mapping).
    record(log, ::fcntl(mbox, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0, "F_ADD_SEALS", mbox);
    ::_exit(0);
  }
  ::close(mbox);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(wait_exit(pid), 0);

  EXPECT_EQ(log->succeeded.load(), 0u) << "first attack the kernel allowed: " << log->first_success;
  EXPECT_GE(log->attempts.load(), 4u);
  struct stat st {};
  ASSERT_EQ(::fstat(port->fd(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), kMailboxSegmentSize);
  // The engine touches every part of its mailbox page (a truncated one would SIGBUS here).
  for (uint64_t s = 2; s <= 4; ++s) publish(*pool, s, kPixel);
  const MailboxStats m = port->stats();
  EXPECT_EQ(m.offered, 4u);
  EXPECT_EQ(m.offered, m.taken + m.dropped + m.pending);
  auto fd = pool->reader_fd();
  ASSERT_TRUE(fd.ok()) << fd.error().to_string();
  auto rd = FrameReader::open(std::move(fd).value(), UniqueFd(::dup(port->fd())));
  ASSERT_TRUE(rd.ok()) << rd.error().to_string();
  auto f = (*rd)->next_frame(Duration::seconds(5));
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_EQ((*f)->identity().sequence, 4u);
}

}  // namespace
}  // namespace orion::ipc
