#include "ipc/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace orion::ipc {

namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

SharedMemory::~SharedMemory() { unmap(); }

SharedMemory::SharedMemory(SharedMemory&& o) noexcept
    : fd_(std::move(o.fd_)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& o) noexcept {
  if (this != &o) {
    unmap();
    fd_ = std::move(o.fd_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

void SharedMemory::unmap() {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

Result<SharedMemory> SharedMemory::create(const std::string& name, size_t size) {
  if (size == 0) return make_error("ipc.shm_create", "shared memory '" + name + "' of size 0");
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return make_error("ipc.shm_create", "memfd_create('" + name + "'): " + errno_text());
  // memfd objects are created with mode 0777 & ~umask in no directory; make the mode say what
  // the access is (owner only) for anyone who looks at /proc/PID/fd.
  (void)::fchmod(fd.get(), 0600);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return make_error("ipc.shm_create",
                      "ftruncate('" + name + "', " + std::to_string(size) + "): " + errno_text());
  // The size is part of the layout every reader validates against: forbid changing it.
  (void)::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return make_error("ipc.shm_map", "mmap('" + name + "'): " + errno_text());
  return SharedMemory(std::move(fd), static_cast<uint8_t*>(p), size);
}

Result<SharedMemory> SharedMemory::map(UniqueFd fd, Access access) {
  if (!fd) return make_error("ipc.shm_map", "invalid file descriptor");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return make_error("ipc.shm_map", "fstat(fd " + std::to_string(fd.get()) + "): " + errno_text());
  if (st.st_size <= 0)
    return make_error("ipc.shm_map",
                      "shared memory behind fd " + std::to_string(fd.get()) + " is empty");
  const size_t size = static_cast<size_t>(st.st_size);
  const int prot = access == Access::kReadOnly ? PROT_READ : PROT_READ | PROT_WRITE;
  void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED)
    return make_error("ipc.shm_map", "mmap(fd " + std::to_string(fd.get()) + ", " +
                                         std::to_string(size) + " bytes): " + errno_text());
  return SharedMemory(std::move(fd), static_cast<uint8_t*>(p), size);
}

Result<UniqueFd> SharedMemory::read_only_fd() const {
  const std::string path = "/proc/self/fd/" + std::to_string(fd_.get());
  UniqueFd ro(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ro) return make_error("ipc.shm_reopen", "open(" + path + ", O_RDONLY): " + errno_text());
  return ro;
}

}  // namespace orion::ipc
