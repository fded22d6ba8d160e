// SharedMemory: one anonymous shared-memory object (memfd) and its mapping in this process.
//
// Why memfd (ADR 0030): it has no name in any filesystem, so nothing is left behind when every
// process holding it dies (a crashed engine leaks no /dev/shm file), it is reachable only by
// processes that were handed the descriptor (access is exactly "who we gave it to", stronger
// than mode 0600), and a read-only descriptor for workers is made by reopening it O_RDONLY.
//
// Lifecycle: create() makes the object, sizes it and maps it read-write (the engine side);
// map() maps a descriptor received from elsewhere (the worker side), read-only or read-write.
// The mapping and the descriptor are released by the destructor. Moving is allowed.
//
// Thread-safety: thread-compatible; the mapped bytes themselves are shared and their
// synchronisation is the business of the layout that lives in them (see layout.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/result.h"
#include "ipc/unique_fd.h"

namespace orion::ipc {

enum class Access : uint8_t { kReadOnly, kReadWrite };

class SharedMemory {
 public:
  SharedMemory() = default;
  ~SharedMemory();
  SharedMemory(SharedMemory&& o) noexcept;
  SharedMemory& operator=(SharedMemory&& o) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  // A new zero-filled memfd of `size` bytes (close-on-exec), mapped read-write.
  // `name` shows in /proc/PID/maps and fd listings ("orion-pool-cam1"); it is not a path.
  // Error codes: "ipc.shm_create", "ipc.shm_map".
  static Result<SharedMemory> create(const std::string& name, size_t size);

  // Maps the whole object behind `fd` (its size from fstat). Takes ownership of `fd`.
  // Error codes: "ipc.shm_map" (fstat/mmap failed, empty object).
  static Result<SharedMemory> map(UniqueFd fd, Access access);

  // A new descriptor to the same object that can only be mapped read-only (reopened through
  // /proc/self/fd with O_RDONLY). Close-on-exec. Error code: "ipc.shm_reopen".
  Result<UniqueFd> read_only_fd() const;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  int fd() const { return fd_.get(); }
  bool valid() const { return data_ != nullptr; }

 private:
  SharedMemory(UniqueFd fd, uint8_t* data, size_t size)
      : fd_(std::move(fd)), data_(data), size_(size) {}
  void unmap();

  UniqueFd fd_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace orion::ipc
