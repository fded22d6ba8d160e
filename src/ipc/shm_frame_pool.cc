#include "ipc/shm_frame_pool.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <random>
#include <utility>

#include "core/thread_annotations.h"
#include "ipc/futex.h"
#include "ipc/shared_memory.h"

namespace orion::ipc {

namespace {

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t random_id() {
  std::random_device rd;
  uint64_t v = (uint64_t{rd()} << 32) ^ rd();
  return v == 0 ? 1 : v;
}

void copy_name(char* dst, size_t cap, const std::string& src) {
  std::memset(dst, 0, cap);
  std::memcpy(dst, src.data(), std::min(cap - 1, src.size()));
}

// Wakes every reader sleeping on a pool's wake word (after a close: each re-checks its mailbox).
void wake_all_readers(uint32_t* wake_word) {
  std::atomic_ref<uint32_t>(*wake_word).fetch_add(1, std::memory_order_seq_cst);
  futex_wake(reinterpret_cast<std::atomic<uint32_t>*>(wake_word), 1 << 30);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
struct MailboxPort::Impl {
  using Delivery = MailboxPort::Delivery;

  // Set by attach() before the port is shared, then constant: read without a lock.
  std::string name;
  SharedMemory shm;               // read-write, one page, shared with the worker
  MailboxBlock* block = nullptr;  // in shm: the worker may write any byte of it at any time
  uint32_t slot_count = 0;
  std::weak_ptr<ShmFramePool::State> pool;

  // Engine-private bookkeeping: the authority for every count. `mu` guards all of it. A leaf
  // lock: taken alone (stats, delivery) or under the pool's publish_mu (offer, close), and
  // nothing is acquired while it is held.
  mutable Mutex mu;
  // The engine's own flag (the shared `flags` is a mirror).
  bool closed GUARDED_BY(mu) = false;
  // Our latest offer while we believe it untaken.
  uint64_t pending_token GUARDED_BY(mu) = kNoToken;
  // A scribbled offer word already counted by settle.
  uint64_t foreign_word GUARDED_BY(mu) = kNoToken;
  uint64_t offered GUARDED_BY(mu) = 0;
  uint64_t taken GUARDED_BY(mu) = 0;
  uint64_t dropped GUARDED_BY(mu) = 0;
  uint64_t scribbled GUARDED_BY(mu) = 0;
  uint32_t notify_seq GUARDED_BY(mu) = 0;
  // A forged lease word already counted as a scribble.
  uint64_t foreign_lease GUARDED_BY(mu) = kNoToken;
  struct Sent {
    uint64_t sequence = 0;
    Delivery state = Delivery::kNeverOffered;
    uint64_t token = kNoToken;
  };
  // Offer number i (0-based, i < offered) is window[i % kDeliveryWindow] while
  // i >= offered - kDeliveryWindow. Sequences increase with i (publish() refuses older ones).
  std::array<Sent, kDeliveryWindow> window GUARDED_BY(mu){};

  Sent& newest_locked() REQUIRES(mu) { return window[(offered - 1) % kDeliveryWindow]; }
  // Offer number i, while it is in the window.
  const Sent& sent_locked(uint64_t i) const REQUIRES(mu) { return window[i % kDeliveryWindow]; }
  // Whether `token` is one of the offers still in the window.
  bool offered_recently_locked(uint64_t token) const REQUIRES(mu) {
    const uint64_t count = std::min<uint64_t>(offered, kDeliveryWindow);
    for (uint64_t i = offered - count; i < offered; ++i)
      if (window[i % kDeliveryWindow].token == token) return true;
    return false;
  }

  // The pending offer's fate is known: count it.
  void resolve_pending_locked(Delivery outcome) REQUIRES(mu) {
    newest_locked().state = outcome;
    (outcome == Delivery::kTaken ? taken : dropped) += 1;
    pending_token = kNoToken;
  }

  // Accounts for `old`, the value our exchange of the offer word returned.
  void account_replaced_locked(uint64_t old) REQUIRES(mu) {
    if (pending_token != kNoToken) {
      if (old == pending_token) {
        resolve_pending_locked(Delivery::kDropped);
      } else {
        if (old != kNoToken) ++scribbled;  // not ours, not a take's 0: the worker wrote it
        resolve_pending_locked(Delivery::kTaken);
      }
    } else if (old != kNoToken && old != foreign_word) {
      ++scribbled;  // nothing was pending, yet the word was not empty
    }
    foreign_word = kNoToken;
  }

  // Looks whether the reader took the pending offer since we made it, so that a snapshot and
  // delivery() see a take at once rather than at the next offer. Reads only `offer`.
  void settle_locked() REQUIRES(mu) {
    if (pending_token == kNoToken) return;
    const uint64_t w = block->offer.load(std::memory_order_seq_cst);
    if (w == pending_token) return;
    if (w != kNoToken) {
      ++scribbled;
      foreign_word = w;  // still in the word: not to be counted again when we replace it
    }
    resolve_pending_locked(Delivery::kTaken);
  }

  void mirror_locked() REQUIRES(mu) {
    block->offered.store(offered, std::memory_order_relaxed);
    block->dropped.store(dropped, std::memory_order_relaxed);
    block->notify_seq.store(++notify_seq, std::memory_order_relaxed);
  }

  // Offers one token. Called under the pool's publish_mu only; the caller bumps the pool's
  // wake word after offering to every mailbox, then reads `waiting` (see ShmFramePool::publish).
  void offer(uint64_t token, uint64_t sequence) EXCLUDES(mu) {
    MutexLock lock(mu);
    if (closed) return;
    // The exchange (seq_cst) publishes the slot header and pixels written before it.
    account_replaced_locked(block->offer.exchange(token, std::memory_order_seq_cst));
    window[offered % kDeliveryWindow] = Sent{sequence, Delivery::kPending, token};
    ++offered;
    pending_token = token;
    mirror_locked();
  }
  // The worker's claim: it says it is about to sleep. At worst a lie costs one FUTEX_WAKE.
  bool waiting() const { return block->waiting.load(std::memory_order_seq_cst) != 0; }

  struct Closed {
    bool now = false;              // this call closed it (it was open)
    bool dropped_pending = false;  // and a pending offer became a drop
  };
  // Closes the mailbox. When it closed it now, the caller wakes the readers
  // (wake_all_readers) after it, without holding `mu`. Called under publish_mu when the pool
  // is alive (offers and close never interleave), alone when it is gone.
  Closed close() EXCLUDES(mu) {
    MutexLock lock(mu);
    if (closed) return {};
    closed = true;
    block->flags.fetch_or(kMailboxClosed, std::memory_order_seq_cst);
    const uint64_t before = dropped;
    account_replaced_locked(block->offer.exchange(kNoToken, std::memory_order_seq_cst));
    mirror_locked();
    return {true, dropped != before};
  }

  MailboxStats stats() EXCLUDES(mu) {
    MailboxStats s;
    s.name = name;
    {
      MutexLock lock(mu);
      settle_locked();
      s.offered = offered;
      s.taken = taken;
      s.dropped = dropped;
      s.pending = pending_token != kNoToken ? 1 : 0;
      s.lease_token = block->lease.load(std::memory_order_acquire);
      // A lease naming a frame never offered to this mailbox was written by hand: a scribble
      // (counted once per forged value). It pins at most one slot, like any lease.
      if (s.lease_token != kNoToken && s.lease_token != foreign_lease &&
          !offered_recently_locked(s.lease_token)) {
        ++scribbled;
        foreign_lease = s.lease_token;
      }
      s.scribbled = scribbled;
      s.closed = closed;
    }
    s.lease_held = token_slot(s.lease_token) < slot_count;
    s.worker_taken = block->taken.load(std::memory_order_relaxed);
    s.last_sequence = block->last_sequence.load(std::memory_order_relaxed);
    s.worker_progress = Timestamp::from_nanos(block->progress_ns.load(std::memory_order_relaxed));
    return s;
  }

  Delivery delivery(uint64_t sequence) EXCLUDES(mu) {
    MutexLock lock(mu);
    settle_locked();
    const uint64_t count = std::min<uint64_t>(offered, kDeliveryWindow);
    if (count == 0) return Delivery::kNeverOffered;
    const uint64_t first = offered - count;
    if (sequence > sent_locked(offered - 1).sequence) return Delivery::kNeverOffered;
    // Every offer this mailbox ever had is in the window when first == 0.
    if (sequence < sent_locked(first).sequence)
      return first == 0 ? Delivery::kNeverOffered : Delivery::kTooOld;
    uint64_t lo = first, hi = offered;  // the first offer whose sequence is >= `sequence`
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo) / 2;
      if (sent_locked(mid).sequence < sequence)
        lo = mid + 1;
      else
        hi = mid;
    }
    return sent_locked(lo).sequence == sequence ? sent_locked(lo).state : Delivery::kNeverOffered;
  }
};

// ---------------------------------------------------------------------------------------------
struct ShmFramePool::State {
  // Set by create() before the pool is shared, then constant: read without a lock.
  ShmFramePoolOptions options;
  SharedMemory shm;
  PoolGeometry geo;

  // Serialises publish(), close and detach of mailboxes. Guards no field: it orders the offers
  // and closes of the ports (each port's own mutex guards what they change). Lock order:
  // publish_mu → mu, publish_mu → MailboxPort::Impl::mu (file comment of shm_frame_pool.h).
  Mutex publish_mu ACQUIRED_BEFORE(MailboxPort::Impl::mu);
  mutable Mutex mu ACQUIRED_AFTER(publish_mu);
  // 1 while a Frame of the slot is alive in the engine.
  std::vector<uint8_t> engine_held GUARDED_BY(mu);
  // 1 once publish() wrote the identity of this write.
  std::vector<uint8_t> identity_written GUARDED_BY(mu);
  std::shared_ptr<const std::vector<std::shared_ptr<MailboxPort::Impl>>> ports GUARDED_BY(mu) =
      std::make_shared<std::vector<std::shared_ptr<MailboxPort::Impl>>>();
  uint64_t next_generation GUARDED_BY(mu) = 1;
  uint64_t last_sequence GUARDED_BY(mu) = 0;
  ShmPoolStats stats GUARDED_BY(mu);
  std::vector<uint8_t> busy_scratch GUARDED_BY(mu);

  PoolHeader* header() { return reinterpret_cast<PoolHeader*>(shm.data()); }
  SlotHeader* slot(uint32_t i) {
    return reinterpret_cast<SlotHeader*>(shm.data() + geo.slot_header_offset(i));
  }
  bool device() const { return geo.memory_kind == MemoryKind::kDevice; }
  // Host: in the segment. Device: a device pointer into options.device (never dereferenced).
  uint8_t* payload_base() { return device() ? options.device.base : shm.data(); }
  uint8_t* payload(uint32_t i) { return payload_base() + geo.slot_payload_offset(i); }

  // Marks the slots that a mailbox offers or a reader leases.
  // Per mailbox the offer is read before the lease: a reader stores its lease before it takes
  // the offer (both seq_cst), so a slot being taken is seen in one word or the other.
  void mark_mailbox_slots(std::vector<uint8_t>& busy) const REQUIRES(mu) {
    busy.assign(geo.slot_count, 0);
    for (const auto& p : *ports) {
      const uint32_t o = token_slot(p->block->offer.load(std::memory_order_seq_cst));
      const uint32_t l = token_slot(p->block->lease.load(std::memory_order_seq_cst));
      if (o < geo.slot_count) busy[o] = 1;
      if (l < geo.slot_count) busy[l] = 1;  // a garbage lease value is ignored, never trusted
    }
  }

  void count_locked(ShmPoolStats& s) REQUIRES(mu) {
    mark_mailbox_slots(busy_scratch);
    s.slots = geo.slot_count;
    s.engine_held = s.offered_or_leased = s.in_use = 0;
    for (uint32_t i = 0; i < geo.slot_count; ++i) {
      if (engine_held[i])
        ++s.engine_held;
      else if (busy_scratch[i])
        ++s.offered_or_leased;
    }
    s.in_use = s.engine_held + s.offered_or_leased;
    s.mailboxes = static_cast<uint32_t>(ports->size());
  }
};

// ---------------------------------------------------------------------------------------------
MailboxPort::~MailboxPort() = default;
const std::string& MailboxPort::name() const { return impl_->name; }
int MailboxPort::fd() const { return impl_->shm.fd(); }

MailboxStats MailboxPort::stats() const { return impl_->stats(); }

MailboxPort::Delivery MailboxPort::delivery(uint64_t sequence) const {
  return impl_->delivery(sequence);
}

void MailboxPort::close() {
  if (auto pool = impl_->pool.lock()) {
    MutexLock lock(pool->publish_mu);
    if (impl_->close().now) wake_all_readers(&pool->header()->wake_word);
  } else {
    // The pool closed every mailbox (and woke its readers) when it went.
    (void)impl_->close();
  }
}

const char* to_string(MailboxPort::Delivery d) {
  switch (d) {
    case MailboxPort::Delivery::kTaken:
      return "taken";
    case MailboxPort::Delivery::kDropped:
      return "dropped";
    case MailboxPort::Delivery::kPending:
      return "pending";
    case MailboxPort::Delivery::kNeverOffered:
      return "never_offered";
    case MailboxPort::Delivery::kTooOld:
      return "too_old";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
Result<std::shared_ptr<ShmFramePool>> ShmFramePool::create(ShmFramePoolOptions options) {
  if (options.slot_count == 0 || options.slot_count > kMaxSlots)
    return make_error("pool.bad_options", "slot_count " + std::to_string(options.slot_count) +
                                              " not in 1.." + std::to_string(kMaxSlots));
  if (options.slot_capacity == 0 || options.slot_capacity > kMaxPayloadBytes)
    return make_error("pool.bad_options", "slot_capacity " + std::to_string(options.slot_capacity) +
                                              " bytes is not in 1..4 GiB");
  const bool device = options.memory_kind == MemoryKind::kDevice;
  const uint64_t table = align_up(sizeof(PoolHeader), 64);
  const uint64_t table_end =
      align_up(table + uint64_t{options.slot_count} * sizeof(SlotHeader), kPageSize);
  const uint64_t stride = align_up(options.slot_capacity, kPageSize);
  // Device payloads start at offset 0 of the device allocation; the segment ends after the table.
  const uint64_t payload_offset = device ? 0 : table_end;
  const uint64_t size = device ? table_end : payload_offset + stride * options.slot_count;
  if (device) {
    const DevicePayload& d = options.device;
    const uint64_t need = device_bytes_needed(options);
    bool handle = false;
    for (uint8_t b : d.ipc_handle) handle = handle || b != 0;
    if (d.base == nullptr || d.bytes < need || !handle || d.device_index < 0 ||
        d.device_index > 255)
      return make_error(
          "pool.bad_options",
          "device pool '" + options.stream_name + "' needs a device allocation of " +
              std::to_string(need) + " bytes with an IPC handle on cuda:0..255; got " +
              std::to_string(d.bytes) + " bytes on cuda:" + std::to_string(d.device_index) +
              (d.base ? "" : ", no pointer") + (handle ? "" : ", no handle"));
  } else if (options.memory_kind != MemoryKind::kHost) {
    return make_error(
        "pool.bad_options",
        "unknown memory kind " + std::to_string(static_cast<int>(options.memory_kind)));
  }
  // Sealed writer-only: from here on only this mapping can change the segment (ADR 0030).
  auto shm = SharedMemory::create("orion-pool-" + options.stream_name, size, Sealing::kWriterOnly);
  if (!shm.ok()) return shm.error();

  auto st = std::make_shared<State>();
  st->options = options;
  st->shm = std::move(shm).value();
  auto* h = reinterpret_cast<PoolHeader*>(st->shm.data());
  h->magic = kPoolMagic;
  h->abi_version = kAbiVersion;
  h->header_size = sizeof(PoolHeader);
  h->slot_header_size = sizeof(SlotHeader);
  h->slot_count = options.slot_count;
  h->slot_table_offset = table;
  h->payload_offset = payload_offset;
  h->payload_stride = stride;
  h->payload_capacity = options.slot_capacity;
  h->segment_size = size;
  h->pool_id = random_id();
  h->stream_id = options.stream_id;
  h->creator_pid = static_cast<uint32_t>(::getpid());
  copy_name(h->stream_name, sizeof h->stream_name, options.stream_name);
  if (device) {
    h->memory_kind = 1;
    h->device_index = static_cast<uint8_t>(options.device.device_index);
    h->device_bytes = options.device.bytes;
    std::memcpy(h->device_handle, options.device.ipc_handle.data(), kDeviceHandleBytes);
  }
  auto geo = validate_pool_header(st->shm.data(), st->shm.size());
  if (!geo.ok()) return geo.error();  // a bug here, but say so rather than crash a reader later
  st->geo = std::move(geo).value();
  for (uint32_t i = 0; i < options.slot_count; ++i) {
    SlotHeader* s = st->slot(i);
    s->magic = kSlotMagic;
    s->abi_version = kAbiVersion;
    s->slot_index = i;
    s->stream_id = options.stream_id;
    s->memory_kind = h->memory_kind;
    s->device_index = h->device_index;
    s->payload_offset = st->geo.slot_payload_offset(i);
  }
  {
    MutexLock lock(st->mu);  // not shared yet: taken for the analysis
    st->engine_held.assign(options.slot_count, 0);
    st->identity_written.assign(options.slot_count, 0);
    st->stats.slots = options.slot_count;
  }
  return std::shared_ptr<ShmFramePool>(new ShmFramePool(std::move(st)));
}

uint64_t ShmFramePool::device_bytes_needed(const ShmFramePoolOptions& options) {
  return align_up(options.slot_capacity, kPageSize) * options.slot_count;
}

ShmFramePool::~ShmFramePool() {
  // Close every mailbox so blocked readers learn that no more frames come.
  State& s = *state_;
  MutexLock lock(s.publish_mu);
  std::shared_ptr<const std::vector<std::shared_ptr<MailboxPort::Impl>>> ports;
  {
    MutexLock l2(s.mu);
    ports = s.ports;
  }
  bool any = false;
  for (const auto& p : *ports) any = p->close().now || any;
  if (any) wake_all_readers(&s.header()->wake_word);
}

const PoolGeometry& ShmFramePool::geometry() const { return state_->geo; }
StreamId ShmFramePool::stream_id() const { return state_->geo.stream_id; }

Result<UniqueFd> ShmFramePool::reader_fd() const { return state_->shm.read_only_fd(); }

Result<MutableFramePtr> ShmFramePool::acquire(const FrameLayout& layout) {
  State& s = *state_;
  if (!layout.valid()) return make_error("pool.bad_layout", "frame layout has no pixels");
  if (layout.size > s.geo.payload_capacity)
    return make_error("pool.bad_layout", "frame of " + std::to_string(layout.size) +
                                             " bytes exceeds the slot "
                                             "capacity of " +
                                             std::to_string(s.geo.payload_capacity) +
                                             " bytes of pool '" + s.options.stream_name + "'");
  uint32_t index = 0;
  uint64_t generation = 0;
  {
    MutexLock lock(s.mu);
    s.mark_mailbox_slots(s.busy_scratch);
    index = s.geo.slot_count;
    for (uint32_t i = 0; i < s.geo.slot_count; ++i) {
      if (!s.engine_held[i] && !s.busy_scratch[i]) {
        index = i;
        break;
      }
    }
    if (index == s.geo.slot_count) {
      ++s.stats.exhausted;
      return make_error("pool.exhausted", "all " + std::to_string(s.geo.slot_count) +
                                              " slots of pool '" + s.options.stream_name +
                                              "' are held, offered or leased");
    }
    s.engine_held[index] = 1;
    s.identity_written[index] = 0;
    generation = s.next_generation++;
    ++s.stats.acquired;
  }
  // The slot is ours alone until its token is offered: write its header.
  SlotHeader* h = s.slot(index);
  h->generation = generation;
  h->stream_id = s.geo.stream_id;
  h->format = static_cast<uint8_t>(layout.format);
  h->memory_kind = s.device() ? 1 : 0;
  h->device_index = static_cast<uint8_t>(s.geo.device_index);
  h->plane_count = static_cast<uint8_t>(layout.plane_count);
  h->sequence = 0;
  h->pts_ns = 0;
  h->capture_time_ns = 0;
  h->width = layout.width;
  h->height = layout.height;
  for (size_t p = 0; p < 3; ++p) {
    h->strides[p] = layout.strides[p];
    h->plane_offsets[p] = layout.offsets[p];
  }
  h->payload_offset = s.geo.slot_payload_offset(index);
  h->payload_size = layout.size;

  PixelMemory mem;
  mem.data = s.payload(index);
  mem.size = layout.size;
  mem.kind = s.geo.memory_kind;
  mem.release = [st = state_, index] {
    MutexLock lock(st->mu);
    st->engine_held[index] = 0;
  };
  return std::make_unique<Frame>(layout, std::move(mem));
}

Status ShmFramePool::publish(const FramePtr& frame) {
  State& s = *state_;
  MutexLock plock(s.publish_mu);
  if (!frame) return make_error("ipc.bad_frame", "publish(nullptr)");
  const FrameIdentity& id = frame->identity();
  {
    MutexLock lock(s.mu);
    if (id.sequence <= s.last_sequence) {
      ++s.stats.rejected_stale;
      return make_error("ipc.not_newer", "frame " + std::to_string(id.sequence) +
                                             " is not newer than " +
                                             std::to_string(s.last_sequence));
    }
  }
  // Which slot holds it? A frame of this pool points into our payload area.
  FramePtr local = frame;
  const uint8_t* base = s.payload_base() + s.geo.payload_offset;
  const uint8_t* p = frame->data();
  bool ours = frame->memory_kind() == s.geo.memory_kind && p >= base &&
              p < base + uint64_t{s.geo.slot_count} * s.geo.payload_stride;
  uint32_t index = 0;
  if (ours) {
    index = static_cast<uint32_t>(static_cast<uint64_t>(p - base) / s.geo.payload_stride);
    ours = p == s.payload(index);
  }
  if (!ours) {
    if (s.device())
      return make_error("ipc.memory_kind",
                        "device pool '" + s.options.stream_name +
                            "' (cuda:" + std::to_string(s.geo.device_index) +
                            ") publishes only frames of its "
                            "own slots; this " +
                            memory_kind_name(static_cast<uint8_t>(frame->memory_kind())) +
                            " frame is not one (copy it on the GPU into an acquire()d slot)");
    if (frame->memory_kind() != MemoryKind::kHost)
      return make_error("ipc.memory_kind",
                        "host pool '" + s.options.stream_name +
                            "' cannot take a device frame (the CPU cannot copy device memory)");
    auto copy = acquire(frame->layout());
    if (!copy.ok()) return copy.error();
    MutableFramePtr m = std::move(copy).value();
    std::memcpy(m->mutable_data(), frame->data(), frame->layout().size);
    m->set_identity(id);
    local = freeze(std::move(m));
    const uint8_t* q = local->data();
    index = static_cast<uint32_t>(static_cast<uint64_t>(q - base) / s.geo.payload_stride);
    MutexLock lock(s.mu);
    ++s.stats.published_by_copy;
    s.stats.bytes_copied += frame->layout().size;
  }
  std::shared_ptr<const std::vector<std::shared_ptr<MailboxPort::Impl>>> ports;
  uint64_t generation;
  {
    MutexLock lock(s.mu);
    if (s.identity_written[index]) {
      // This write of the slot was published before (under another sequence): its header is
      // out there and must not change. A frame is published once.
      return make_error("ipc.republished",
                        "frame already published in slot " + std::to_string(index));
    }
    s.identity_written[index] = 1;
    s.last_sequence = id.sequence;
    s.stats.last_width = local->layout().width;
    s.stats.last_height = local->layout().height;
    ++s.stats.published;
    ports = s.ports;
    generation = s.slot(index)->generation;
  }
  SlotHeader* h = s.slot(index);
  h->sequence = id.sequence;
  h->pts_ns = id.pts.count_nanos();
  h->capture_time_ns = id.capture_time.nanos();
  h->stream_id = s.geo.stream_id;
  // The offers (seq_cst) publish the header and pixel writes above to the readers.
  // Phase 1 writes every mailbox (a few atomics each). Phase 2 bumps the pool's wake word and,
  // if any reader sleeps (or is about to), wakes them all with one system call: waking is the
  // expensive part (a cross-CPU wake-up each), and one futex call lets the kernel batch them.
  const uint64_t token = make_token(index, generation);
  for (const auto& port : *ports) port->offer(token, id.sequence);
  std::atomic_ref<uint32_t>(s.header()->wake_word).fetch_add(1, std::memory_order_seq_cst);
  bool any_waiting = false;
  for (const auto& port : *ports) any_waiting = any_waiting || port->waiting();
  if (any_waiting)
    futex_wake(reinterpret_cast<std::atomic<uint32_t>*>(&s.header()->wake_word), 1 << 30);
  return {};  // `local` (holding the slot in the engine) is released after every offer is in
}

Result<std::shared_ptr<MailboxPort>> ShmFramePool::attach(std::string name) {
  State& s = *state_;
  // Both sides write the mailbox; only its size is sealed (a worker's ftruncate fails).
  auto shm = SharedMemory::create("orion-mbox-" + name, kMailboxSegmentSize, Sealing::kFixedSize);
  if (!shm.ok()) return shm.error();
  auto impl = std::make_shared<MailboxPort::Impl>();
  impl->name = std::move(name);
  impl->shm = std::move(shm).value();
  impl->slot_count = s.geo.slot_count;
  impl->pool = state_;
  auto* b = new (impl->shm.data()) MailboxBlock{};
  b->magic = kMailboxMagic;
  b->abi_version = kAbiVersion;
  b->block_size = sizeof(MailboxBlock);
  b->stream_id = s.geo.stream_id;
  b->slot_count = s.geo.slot_count;
  b->pool_id = s.geo.pool_id;
  copy_name(b->name, sizeof b->name, impl->name);
  impl->block = b;
  {
    MutexLock plock(s.publish_mu);
    MutexLock lock(s.mu);
    auto next = std::make_shared<std::vector<std::shared_ptr<MailboxPort::Impl>>>(*s.ports);
    next->push_back(impl);
    s.ports = std::move(next);
  }
  return std::shared_ptr<MailboxPort>(new MailboxPort(std::move(impl)));
}

void ShmFramePool::detach_and_reclaim(const std::shared_ptr<MailboxPort>& port) {
  if (!port) return;
  State& s = *state_;
  MutexLock plock(s.publish_mu);
  MailboxPort::Impl& m = *port->impl_;
  const MailboxPort::Impl::Closed closed = m.close();
  if (closed.now) wake_all_readers(&s.header()->wake_word);
  MutexLock lock(s.mu);
  auto next = std::make_shared<std::vector<std::shared_ptr<MailboxPort::Impl>>>();
  for (const auto& p : *s.ports)
    if (p.get() != &m) next->push_back(p);
  const bool was_attached = next->size() != s.ports->size();
  s.ports = std::move(next);
  if (!was_attached) return;
  // The reader is gone: whatever it leased is ours again.
  const uint64_t lease = m.block->lease.exchange(kNoToken, std::memory_order_seq_cst);
  if (token_slot(lease) < s.geo.slot_count) ++s.stats.leases_reclaimed;
  if (closed.dropped_pending) ++s.stats.offers_reclaimed;
}

PoolStats ShmFramePool::stats() const {
  State& s = *state_;
  MutexLock lock(s.mu);
  ShmPoolStats x = s.stats;
  s.count_locked(x);
  PoolStats p;
  p.capacity = x.slots;
  p.in_use = x.in_use;
  p.allocated = x.slots;
  p.acquired = x.acquired;
  p.exhausted = x.exhausted;
  return p;
}

bool ShmFramePool::has_mailboxes() const {
  State& s = *state_;
  MutexLock lock(s.mu);
  return !s.ports->empty();
}

ShmPoolStats ShmFramePool::shm_stats() const {
  State& s = *state_;
  MutexLock lock(s.mu);
  ShmPoolStats x = s.stats;
  s.count_locked(x);
  return x;
}

}  // namespace orion::ipc
