#include "ipc/frame_reader.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <utility>

#include "core/clock.h"
#include "ipc/futex.h"
#include "ipc/layout.h"
#include "ipc/shared_memory.h"

namespace orion::ipc {

struct FrameReader::State {
  SharedMemory pool;     // read-only
  SharedMemory mailbox;  // read-write
  PoolGeometry geo;
  MailboxBlock* block = nullptr;
  std::atomic<uint32_t>* wake_word = nullptr;  // PoolHeader::wake_word in the read-only mapping
  DeviceMapping device;                        // a device pool's allocation (base null: host)
  std::atomic<bool> frame_alive{false};
  std::atomic<uint64_t> taken{0}, invalid{0}, last_sequence{0};
};

Result<std::unique_ptr<FrameReader>> FrameReader::open(UniqueFd pool_fd, UniqueFd mailbox_fd,
                                                       const DeviceMapper& device_mapper) {
  auto pool = SharedMemory::map(std::move(pool_fd), Access::kReadOnly);
  if (!pool.ok()) return pool.error();
  auto geo = validate_pool_header(pool->data(), pool->size());
  if (!geo.ok()) return geo.error();
  DeviceMapping device;
  if (geo->memory_kind == MemoryKind::kDevice) {
    if (!device_mapper)
      return make_error("ipc.memory_kind",
                        "pool '" + geo->stream_name + "' keeps its frames in GPU memory (cuda:" +
                            std::to_string(geo->device_index) +
                            "); this reader cannot map device memory (a GPU worker can)");
    auto m = device_mapper(*geo);
    if (!m.ok()) return m.error();
    if (m->base == nullptr)
      return make_error("ipc.memory_kind", "the device mapper returned no pointer for pool '" +
                                               geo->stream_name + "'");
    device = std::move(m).value();
  }
  auto mb = SharedMemory::map(std::move(mailbox_fd), Access::kReadWrite);
  if (!mb.ok()) return mb.error();
  if (auto st = validate_mailbox_block(mb->data(), mb->size(), *geo); !st.ok()) return st.error();
  auto s = std::make_shared<State>();
  s->pool = std::move(pool).value();
  s->geo = std::move(geo).value();
  s->mailbox = std::move(mb).value();
  s->device = std::move(device);
  s->block = reinterpret_cast<MailboxBlock*>(s->mailbox.data());
  // Only ever loaded (atomically) and waited on: the mapping is read-only.
  s->wake_word =
      reinterpret_cast<std::atomic<uint32_t>*>(s->pool.data() + offsetof(PoolHeader, wake_word));
  s->block->worker_pid.store(static_cast<uint32_t>(::getpid()), std::memory_order_relaxed);
  s->last_sequence = s->block->last_sequence.load(std::memory_order_relaxed);
  return std::unique_ptr<FrameReader>(new FrameReader(std::move(s)));
}

FrameReader::~FrameReader() = default;

const PoolGeometry& FrameReader::pool() const { return state_->geo; }

ReaderStats FrameReader::stats() const {
  return {state_->taken.load(), state_->invalid.load(), state_->last_sequence.load()};
}

void FrameReader::mark_progress(Timestamp now) {
  state_->block->progress_ns.store(now.nanos(), std::memory_order_relaxed);
}

Result<FramePtr> FrameReader::next_frame(Duration timeout) {
  State& s = *state_;
  auto wake_ref = [&s]() -> std::atomic<uint32_t>& { return *s.wake_word; };
  MailboxBlock& b = *s.block;
  if (s.frame_alive.load(std::memory_order_acquire))
    return make_error("ipc.lease_held",
                      "the previous frame is still alive; destroy it before taking the next");
  const Clock& clock = SteadyClock::instance();  // real time: see frame_reader.h
  const Timestamp deadline = clock.deadline_after(timeout);
  const bool forever = deadline == Clock::kNever;
  for (;;) {
    const uint64_t t = b.offer.load(std::memory_order_seq_cst);
    if (t != kNoToken) {
      // Lease first, then take: the engine scans offer then lease, so the slot is always held
      // by one of the two words. A failed take leaves a harmless stale lease, replaced below.
      b.lease.store(t, std::memory_order_seq_cst);
      uint64_t expected = t;
      if (!b.offer.compare_exchange_strong(expected, kNoToken, std::memory_order_seq_cst)) continue;
      b.taken.fetch_add(1, std::memory_order_relaxed);
      auto view =
          read_slot_header(s.geo, s.pool.data(), s.pool.size(), token_slot(t), token_generation(t));
      if (!view.ok()) {
        b.lease.store(kNoToken, std::memory_order_seq_cst);
        s.invalid.fetch_add(1, std::memory_order_relaxed);
        return view.error();
      }
      const uint64_t last = s.last_sequence.load(std::memory_order_relaxed);
      if (view->identity.sequence <= last) {
        b.lease.store(kNoToken, std::memory_order_seq_cst);
        s.invalid.fetch_add(1, std::memory_order_relaxed);
        return make_error("ipc.not_newer",
                          "offered frame " + std::to_string(view->identity.sequence) +
                              " is not newer than the last taken " + std::to_string(last));
      }
      s.last_sequence.store(view->identity.sequence, std::memory_order_relaxed);
      b.last_sequence.store(view->identity.sequence, std::memory_order_relaxed);
      s.taken.fetch_add(1, std::memory_order_relaxed);
      PixelMemory mem;
      // The mapping is PROT_READ: the Frame is only ever used frozen (const).
      mem.data = view->memory_kind == MemoryKind::kDevice
                     ? s.device.base + view->payload_offset
                     : const_cast<uint8_t*>(s.pool.data() + view->payload_offset);
      mem.size = view->layout.size;
      mem.kind = view->memory_kind;
      s.frame_alive.store(true, std::memory_order_release);
      mem.release = [st = state_] {
        st->block->lease.store(kNoToken, std::memory_order_seq_cst);
        st->frame_alive.store(false, std::memory_order_release);
      };
      auto f = std::make_unique<Frame>(view->layout, std::move(mem));
      f->set_identity(view->identity);
      return freeze(std::move(f));
    }
    // Nothing offered: sleep on the pool's wake word. `waiting` is set before the last check,
    // so an engine that offers after the check sees it and wakes us (or the word has moved on).
    b.waiting.store(1, std::memory_order_seq_cst);
    const uint32_t seen = wake_ref().load(std::memory_order_seq_cst);
    if (b.offer.load(std::memory_order_seq_cst) != kNoToken) {
      b.waiting.store(0, std::memory_order_relaxed);
      continue;
    }
    if (b.flags.load(std::memory_order_seq_cst) & kMailboxClosed) {
      b.waiting.store(0, std::memory_order_relaxed);
      return make_error(
          "closed",
          "mailbox '" + std::string(b.name, strnlen(b.name, sizeof b.name)) + "' is closed");
    }
    Duration left = Duration::max();
    if (!forever) {
      const Timestamp now = clock.now();
      if (now >= deadline) {
        b.waiting.store(0, std::memory_order_relaxed);
        return make_error("timeout",
                          "no new frame within " + std::to_string(timeout.as_millis()) + " ms");
      }
      left = deadline - now;
    }
    futex_wait(s.wake_word, seen, left);
    b.waiting.store(0, std::memory_order_relaxed);
  }
}

}  // namespace orion::ipc
