// SharedMemory: the seals and modes create() puts on a memfd, checked with the kernel's own
// answers (F_GET_SEALS, fstat, F_GETFL), and what they refuse in this process. The same
// refusals across a real process boundary are in shm_frame_pool_hostile_test.cc.
#include "ipc/shared_memory.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace orion::ipc {
namespace {

constexpr size_t kSize = 3 * 4096;

mode_t mode_of(int fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return st.st_mode & 07777;
}

TEST(SharedMemoryTest, AWriterOnlyObjectIsSealedAgainstEveryWriteButItsCreatorsMapping) {
  auto shm = SharedMemory::create("test-writer-only", kSize, Sealing::kWriterOnly);
  ASSERT_TRUE(shm.ok()) << shm.error().to_string();
  auto seals = seals_of(shm->fd());
  ASSERT_TRUE(seals.ok()) << seals.error().to_string();
  EXPECT_EQ(*seals, unsigned{F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL});
  EXPECT_EQ(mode_of(shm->fd()), 0400u);

  shm->data()[100] = 7;  // the creator's mapping stays writable
  EXPECT_EQ(shm->data()[100], 7);
  // The creator's own read-write descriptor can no longer write or make a writable mapping.
  const char x = 1;
  errno = 0;
  EXPECT_EQ(::pwrite(shm->fd(), &x, 1, 100), -1);
  EXPECT_EQ(errno, EPERM);
  errno = 0;
  EXPECT_EQ(::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, shm->fd(), 0), MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  errno = 0;
  EXPECT_EQ(::ftruncate(shm->fd(), 0), -1);
  EXPECT_EQ(errno, EPERM);
  errno = 0;
  EXPECT_EQ(::fcntl(shm->fd(), F_ADD_SEALS, F_SEAL_WRITE), -1);  // F_SEAL_SEAL: no more seals
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(shm->data()[100], 7);
}

TEST(SharedMemoryTest, AFixedSizeObjectCanBeWrittenButNeverResizedOrResealed) {
  auto shm = SharedMemory::create("test-fixed-size", kSize, Sealing::kFixedSize);
  ASSERT_TRUE(shm.ok()) << shm.error().to_string();
  auto seals = seals_of(shm->fd());
  ASSERT_TRUE(seals.ok());
  EXPECT_EQ(*seals, unsigned{F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL});
  EXPECT_EQ(mode_of(shm->fd()), 0600u);
  const char x = 9;
  EXPECT_EQ(::pwrite(shm->fd(), &x, 1, 5), 1);  // both sides write a mailbox
  EXPECT_EQ(shm->data()[5], 9);
  errno = 0;
  EXPECT_EQ(::ftruncate(shm->fd(), 0), -1);
  EXPECT_EQ(errno, EPERM);
  errno = 0;
  EXPECT_EQ(::ftruncate(shm->fd(), kSize * 2), -1);
  EXPECT_EQ(errno, EPERM);
  errno = 0;
  EXPECT_EQ(::fcntl(shm->fd(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
  EXPECT_EQ(errno, EPERM);
}

TEST(SharedMemoryTest, TheReadOnlyDescriptorIsOpenedReadOnlyAndCannotMapWritable) {
  auto shm = SharedMemory::create("test-ro", kSize, Sealing::kWriterOnly);
  ASSERT_TRUE(shm.ok());
  auto ro = shm->read_only_fd();
  ASSERT_TRUE(ro.ok()) << ro.error().to_string();
  const int flags = ::fcntl(ro->get(), F_GETFL);
  ASSERT_GE(flags, 0);
  EXPECT_EQ(flags & O_ACCMODE, O_RDONLY);
  EXPECT_NE(::fcntl(ro->get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, ro->get(), 0), MAP_FAILED);
  void* p = ::mmap(nullptr, kSize, PROT_READ, MAP_SHARED, ro->get(), 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_NE(::mprotect(p, kSize, PROT_READ | PROT_WRITE), 0);
  shm->data()[0] = 42;  // the reader sees the creator's writes
  EXPECT_EQ(static_cast<const uint8_t*>(p)[0], 42);
  ::munmap(p, kSize);
}

TEST(SharedMemoryTest, AnEmptyObjectIsRefusedWithItsName) {
  auto shm = SharedMemory::create("test-empty", 0, Sealing::kFixedSize);
  ASSERT_FALSE(shm.ok());
  EXPECT_EQ(shm.error().code, "ipc.shm_create");
  EXPECT_NE(shm.error().message.find("test-empty"), std::string::npos);
}

TEST(SharedMemoryTest, SealsOfABadDescriptorIsAnErrorNamingIt) {
  auto seals = seals_of(-1);
  ASSERT_FALSE(seals.ok());
  EXPECT_EQ(seals.error().code, "ipc.shm_seal");
  EXPECT_NE(seals.error().message.find("fd -1"), std::string::npos);
}

}  // namespace
}  // namespace orion::ipc
