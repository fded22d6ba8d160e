// FramePool: where a producer gets the memory it decodes into, so that pixels are written
// exactly once, straight into memory every consumer can share.
//
// Implementations: HeapFramePool (process heap, here); the shared-memory pool of src/ipc/
// implements the same interface so capture code does not change.
//
// Lifecycle: acquire() returns a mutable frame whose memory is held by the pool until the
// frame (and every FramePtr made from it) is destroyed; then the memory returns to the pool.
// Frames may outlive the pool object: implementations keep their state alive while any frame
// they handed out exists.
//
// Thread-safety: implementations are thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "core/frame.h"
#include "core/result.h"

namespace orion {

struct PoolStats {
  size_t capacity = 0;   // how many buffers may be out at once (0 = unbounded)
  size_t in_use = 0;     // buffers held by live frames
  size_t allocated = 0;  // buffers that exist (in use + free)
  uint64_t acquired = 0; // acquire() successes since creation
  uint64_t exhausted = 0;// acquire() failures because capacity was reached
};

class FramePool {
 public:
  virtual ~FramePool() = default;
  // Error codes: "pool.exhausted" (every buffer in use), "pool.bad_layout".
  virtual Result<MutableFramePtr> acquire(const FrameLayout& layout) = 0;
  virtual PoolStats stats() const = 0;
};

// Buffers from the heap, recycled when their size matches. Row alignment is the caller's
// choice through the layout. `capacity` 0 means unbounded.
class HeapFramePool final : public FramePool {
 public:
  explicit HeapFramePool(size_t capacity = 0);
  ~HeapFramePool() override;
  Result<MutableFramePtr> acquire(const FrameLayout& layout) override;
  PoolStats stats() const override;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace orion
