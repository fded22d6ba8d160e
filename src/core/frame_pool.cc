#include "core/frame_pool.h"

#include <cstdlib>
#include <new>
#include <string>
#include <utility>

#include "core/thread_annotations.h"

namespace orion {

struct HeapFramePool::State {
  struct Buffer {
    uint8_t* data;
    size_t size;
  };
  explicit State(size_t cap) : capacity(cap) {}
  ~State() {
    for (auto& b : free) std::free(b.data);
  }

  const size_t capacity;
  mutable Mutex mu;
  std::vector<Buffer> free GUARDED_BY(mu);
  PoolStats stats GUARDED_BY(mu);  // capacity copied in at read
};

HeapFramePool::HeapFramePool(size_t capacity) : state_(std::make_shared<State>(capacity)) {}
HeapFramePool::~HeapFramePool() = default;

Result<MutableFramePtr> HeapFramePool::acquire(const FrameLayout& layout) {
  if (!layout.valid()) return make_error("pool.bad_layout", "frame layout has no pixels");
  State::Buffer buf{nullptr, 0};
  {
    MutexLock lock(state_->mu);
    if (state_->capacity != 0 && state_->stats.in_use >= state_->capacity) {
      ++state_->stats.exhausted;
      return make_error("pool.exhausted", "all " + std::to_string(state_->capacity) +
                                              " frame buffers are in use");
    }
    for (size_t i = 0; i < state_->free.size(); ++i) {
      if (state_->free[i].size == layout.size) {
        buf = state_->free[i];
        state_->free[i] = state_->free.back();
        state_->free.pop_back();
        break;
      }
    }
    if (buf.data == nullptr) {
      // Drop one wrong-sized free buffer so a resolution change does not pile memory up.
      if (!state_->free.empty()) {
        std::free(state_->free.back().data);
        state_->free.pop_back();
        --state_->stats.allocated;
      }
      ++state_->stats.allocated;
    }
    ++state_->stats.in_use;
    ++state_->stats.acquired;
  }
  if (buf.data == nullptr) {
    const size_t rounded = (layout.size + 63) / 64 * 64;
    buf.data = static_cast<uint8_t*>(std::aligned_alloc(64, rounded));
    if (buf.data == nullptr) {
      MutexLock lock(state_->mu);
      --state_->stats.in_use;
      --state_->stats.allocated;
      return make_error("pool.no_memory", "cannot allocate " + std::to_string(layout.size) + " bytes");
    }
    buf.size = layout.size;
  }
  PixelMemory mem;
  mem.data = buf.data;
  mem.size = buf.size;
  mem.release = [state = state_, buf] {
    MutexLock lock(state->mu);
    state->free.push_back(buf);
    --state->stats.in_use;
  };
  return std::make_unique<Frame>(layout, std::move(mem));
}

PoolStats HeapFramePool::stats() const {
  MutexLock lock(state_->mu);
  PoolStats s = state_->stats;
  s.capacity = state_->capacity;
  return s;
}

}  // namespace orion
