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

// "F_SEAL_SHRINK|F_SEAL_GROW" for error messages.
std::string seal_names(unsigned seals) {
  static constexpr std::pair<unsigned, const char*> kNames[] = {
      {F_SEAL_SEAL, "F_SEAL_SEAL"},
      {F_SEAL_SHRINK, "F_SEAL_SHRINK"},
      {F_SEAL_GROW, "F_SEAL_GROW"},
      {F_SEAL_WRITE, "F_SEAL_WRITE"},
      {F_SEAL_FUTURE_WRITE, "F_SEAL_FUTURE_WRITE"}};
  std::string out;
  for (const auto& [bit, text] : kNames) {
    if ((seals & bit) == 0) continue;
    if (!out.empty()) out += '|';
    out += text;
    seals &= ~bit;
  }
  if (seals != 0) out += (out.empty() ? "" : "|") + std::to_string(seals);
  return out.empty() ? "none" : out;
}
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

Result<unsigned> seals_of(int fd) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0)
    return make_error("ipc.shm_seal",
                      "fcntl(fd " + std::to_string(fd) + ", F_GET_SEALS): " + errno_text());
  return static_cast<unsigned>(seals);
}

Result<SharedMemory> SharedMemory::create(const std::string& name, size_t size, Sealing sealing) {
  if (size == 0) return make_error("ipc.shm_create", "shared memory '" + name + "' of size 0");
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return make_error("ipc.shm_create", "memfd_create('" + name + "'): " + errno_text());
  // memfd objects are created with mode 0777 & ~umask in no directory. The mode is what a
  // reopen through /proc/PID/fd is checked against: owner only, and read-only for memory that
  // peers must only read (a non-root peer then cannot even reopen it read-write; the seals
  // below are what holds for root and for a descriptor obtained any other way).
  const mode_t mode = sealing == Sealing::kWriterOnly ? 0400 : 0600;
  if (::fchmod(fd.get(), mode) != 0)
    return make_error(
        "ipc.shm_create",
        "fchmod('" + name + "', " + (mode == 0400 ? "0400" : "0600") + "): " + errno_text());
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return make_error("ipc.shm_create",
                      "ftruncate('" + name + "', " + std::to_string(size) + "): " + errno_text());
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return make_error("ipc.shm_map", "mmap('" + name + "'): " + errno_text());
  const int fd_number = fd.get();
  SharedMemory shm(std::move(fd), static_cast<uint8_t*>(p), size);  // unmaps on every error below

  // The size is part of the layout every reader validates against: nobody may change it (a
  // shrink would make this process SIGBUS on its own mapping). F_SEAL_FUTURE_WRITE must come
  // after our mmap (it forbids new writable mappings, ours included) and keeps our mapping
  // writable. F_SEAL_SEAL last: no seal can be added or removed afterwards.
  unsigned want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
  if (sealing == Sealing::kWriterOnly) want |= F_SEAL_FUTURE_WRITE;
  if (::fcntl(fd_number, F_ADD_SEALS, static_cast<int>(want)) != 0)
    return make_error("ipc.shm_seal", "fcntl('" + name + "', F_ADD_SEALS, " + seal_names(want) +
                                          "): " + errno_text());
  auto have = seals_of(fd_number);
  if (!have.ok()) return make_error("ipc.shm_seal", "'" + name + "': " + have.error().message);
  if ((*have & want) != want)
    return make_error("ipc.shm_seal", "'" + name + "' carries seals " + seal_names(*have) +
                                          " after F_ADD_SEALS of " + seal_names(want));
  return shm;
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
  const int flags = ::fcntl(ro.get(), F_GETFL);
  if (flags < 0)
    return make_error("ipc.shm_reopen", "fcntl(" + path + " reopened, F_GETFL): " + errno_text());
  if ((flags & O_ACCMODE) != O_RDONLY)
    return make_error("ipc.shm_reopen", path + " reopened with access mode " +
                                            std::to_string(flags & O_ACCMODE) + ", not O_RDONLY");
  return ro;
}

}  // namespace orion::ipc
