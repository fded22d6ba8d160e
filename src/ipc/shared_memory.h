// SharedMemory: one anonymous shared-memory object (memfd) and its mapping in this process.
//
// Why memfd (ADR 0030): it has no name in any filesystem, so nothing is left behind when every
// process holding it dies (a crashed engine leaks no /dev/shm file), it is reachable only by
// processes that were handed the descriptor (or that can open /proc/PID/fd of one that holds
// it: any process of the same user), and it can be sealed.
//
// Seals, not descriptors, are what a peer cannot undo. A read-only descriptor can be reopened
// read-write through /proc/self/fd by any process of the same user (the mode only stops a
// non-root one), so create() seals the object once its own mapping exists (see Sealing): the
// size is fixed for everyone, and for a kWriterOnly object nobody, whatever descriptor they
// hold or reopen, can write() it, map it shared and writable, mprotect a mapping to writable or
// punch a hole in it; only the mapping create() made writes. Every seal, chmod, truncate and map is
// checked and verified (F_GET_SEALS): an object that is not sealed as asked is an error.
//
// Lifecycle: create() makes the object, sizes it, maps it read-write and seals it (the engine
// side); map() maps a descriptor received from elsewhere (the worker side), read-only or
// read-write. The mapping and the descriptor are released by the destructor. Moving is allowed.
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

// The seals create() puts on a new object after mapping it read-write (ADR 0030).
enum class Sealing : uint8_t {
  // F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL; mode 0600. The size is fixed (a peer's ftruncate
  // fails, so it cannot make the creator's mapping SIGBUS) and no seal can be added or removed;
  // whoever holds a read-write descriptor may write. For memory both sides write (a mailbox).
  kFixedSize,
  // kFixedSize + F_SEAL_FUTURE_WRITE; mode 0400. Only the mapping made by create() can write:
  // write(), a new PROT_WRITE MAP_SHARED mapping, mprotect to writable and punching a hole
  // (fallocate) fail with EPERM/EACCES through every descriptor, reopened or inherited
  // read-write ones included. For memory a peer must only read (the frame pool).
  kWriterOnly,
};

// F_GET_SEALS of `fd` (the bits of <fcntl.h>). Error code "ipc.shm_seal".
Result<unsigned> seals_of(int fd);

class SharedMemory {
 public:
  SharedMemory() = default;
  ~SharedMemory();
  SharedMemory(SharedMemory&& o) noexcept;
  SharedMemory& operator=(SharedMemory&& o) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  // A new zero-filled memfd of `size` bytes (close-on-exec), mapped read-write here, then
  // sealed as `sealing` says. `name` shows in /proc/PID/maps and fd listings
  // ("orion-pool-cam1"); it is not a path. Every error names the object and the errno.
  // Error codes: "ipc.shm_create" (memfd_create, fchmod, ftruncate), "ipc.shm_map" (mmap),
  // "ipc.shm_seal" (F_ADD_SEALS failed, or F_GET_SEALS does not show every seal asked for).
  static Result<SharedMemory> create(const std::string& name, size_t size, Sealing sealing);

  // Maps the whole object behind `fd` (its size from fstat). Takes ownership of `fd`.
  // Error codes: "ipc.shm_map" (fstat/mmap failed, empty object).
  static Result<SharedMemory> map(UniqueFd fd, Access access);

  // A new descriptor to the same object, opened O_RDONLY (reopened through /proc/self/fd;
  // checked with F_GETFL), so it can only be mapped PROT_READ. Close-on-exec. Reopening it
  // read-write is possible for a process of the same user; only the kWriterOnly seals make
  // that useless. Error code: "ipc.shm_reopen".
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
