// ShmFramePool: the frame pool of one stream in shared memory, and the engine's end of the
// cross-process mailboxes that offer its frames to worker processes. Layout: ipc/layout.h;
// protocol: docs/design/worker_protocol.md.
//
//   capture ──acquire()──► slot (pixels written once, straight into shared memory)
//           ──publish(frame)──► identity into the slot header, token offered to every mailbox
//                               (single slot, overwrite, newest only), then one futex wake
//                               on the pool's wake word for the sleeping workers
//   worker  ──FrameReader::next_frame()──► leases the slot, reads it in place, releases it
//
// Slot ownership. A slot is free when (a) no Frame of it is alive in the engine, (b) no mailbox
// offers a token of it and (c) no worker leases it. acquire() takes the first free slot, so the
// writer never reuses a slot a worker reads; a dead worker's lease is taken back by
// detach_and_reclaim() once the process is known dead (ADR 0032).
//
// Trust boundary (ADR 0030, 0031). A worker is not trusted:
//   - the pool segment is sealed F_SEAL_FUTURE_WRITE (SharedMemory Sealing::kWriterOnly): only
//     the engine's own mapping writes it; a worker that reopens or inherits a read-write
//     descriptor still cannot write(), map it writable, mprotect to writable or punch holes;
//   - both segments are sealed against shrinking and growing, so a worker's ftruncate fails and
//     cannot make the engine SIGBUS on its own mapping;
//   - the mailbox page is writable by the worker, so everything the engine counts about a
//     mailbox lives in engine-private memory (MailboxPort::Impl); the shared fields the engine
//     writes (offered, dropped, notify_seq, flags) are a mirror for the worker's information and
//     are never read back. The only shared word the counts depend on is `offer`, the handshake
//     itself: a value other than the engine's own pending token means the reader took it.
//
// Statistics per mailbox are exact and conserve at every snapshot, from private state only:
//   offered = taken + dropped + pending   (pending 0 or 1; a pending frame at close is dropped)
// What the worker wrote (its own take count, its lease, progress) is reported beside them as
// the worker's claim (worker_taken, lease_token, ...) for cross-checking, never as a count.
//
// Delivery window. Each port remembers the sequences of its last kDeliveryWindow offers and
// what became of each (taken, dropped, pending), so the supervisor can accept a result only
// for a frame this worker instance really took (MailboxPort::delivery). The window lives in the
// port, which lives as long as its worker instance: a new instance starts with an empty one.
//
// Lifecycle: create() → attach()/acquire()/publish() → detach_and_reclaim() per mailbox →
// destruction. Frames and MailboxPorts may outlive the pool object (they keep its state alive).
//
// Thread-safety: every member is thread-safe. publish() calls are serialised by publish_mu;
// slot bookkeeping and the mailbox list are guarded by mu; each port's counters and window by
// the port's own mutex, a leaf. Lock order: publish_mu → mu, publish_mu → port mutex; nothing
// is acquired while a port mutex is held (checked by Clang, src/core/thread_annotations.h).
// Across modules the pool comes after the supervisor and before the result store
// (docs/design/threads.md); a frame's release takes mu, so no other module's lock may be held
// when the last FramePtr of a pool frame goes. publish() never blocks on a worker: it is
// O(mailboxes) atomic operations and port locks (held elsewhere only for a few loads) plus,
// when any worker sleeps, one FUTEX_WAKE on the pool's wake word for all of them (ADR 0031).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/frame.h"
#include "core/frame_pool.h"
#include "core/result.h"
#include "ipc/layout.h"
#include "ipc/unique_fd.h"
#include "ipc/validate.h"

namespace orion::ipc {

// The GPU allocation a device pool keeps its slots in (ADR 0074). Made once by the engine
// (src/gpu DeviceSlots: cudaMalloc + cudaIpcGetMemHandle); this module never calls CUDA and
// never dereferences `base`.
struct DevicePayload {
  int device_index = 0;     // CUDA device ordinal (0..255)
  uint8_t* base = nullptr;  // device pointer of the allocation
  uint64_t bytes = 0;       // its size: >= ShmFramePool::device_bytes_needed(options)
  std::array<uint8_t, kDeviceHandleBytes> ipc_handle{};  // cudaIpcMemHandle_t, for readers
  std::shared_ptr<void> keep_alive;  // owns the allocation; held as long as any frame of it
};

struct ShmFramePoolOptions {
  StreamId stream_id = 1;
  std::string stream_name = "stream";
  // Enough for every frame the engine holds (capture, supplier inbox/latest, compositor, ...)
  // plus two per mailbox (one offered, one leased). Memory is committed only for slots used.
  uint32_t slot_count = 16;
  size_t slot_capacity = size_t{1920} * 1080 * 3;  // largest frame in bytes
  // kHost: slots in the segment. kDevice: slots in `device` (the segment holds the headers
  // only); acquire() then hands out frames of MemoryKind::kDevice whose data() is a device
  // pointer, written on the GPU by the caller, and publish() offers only frames of this pool.
  MemoryKind memory_kind = MemoryKind::kHost;
  DevicePayload device;
};

// One mailbox's statistics, a snapshot (MailboxPort::stats()).
struct MailboxStats {
  std::string name;
  // The engine's own bookkeeping (engine-private memory): exact, offered = taken + dropped +
  // pending at every snapshot, whatever the worker writes into its mailbox.
  uint64_t offered = 0;  // offers made to this mailbox
  uint64_t taken = 0;    // offers the reader removed from the offer word (took)
  uint64_t dropped = 0;  // offers replaced (or closed) before the worker took them
  uint64_t pending = 0;  // 1 while the offer word still holds the engine's latest offer
  // Times the engine found in the offer word a value it never put there and that a correct
  // reader never writes (neither 0 nor the engine's pending token): a misbehaving worker. An
  // offer overwritten so counts as taken (it is gone, and only the reader could remove it).
  uint64_t scribbled = 0;
  bool closed = false;  // the engine closed the mailbox (its own flag, not the shared one)
  // The worker's claims, read from the mailbox page it writes: for cross-checking only.
  bool lease_held = false;     // lease_token names a slot of the pool
  uint64_t lease_token = 0;    // the lease word as read (a lease held forever stays the same)
  uint64_t worker_taken = 0;   // frames the worker says it took
  uint64_t last_sequence = 0;  // sequence of the last frame the worker says it took
  Timestamp worker_progress;   // the worker loop's last progress mark (unset if never)
};

struct ShmPoolStats {
  uint32_t slots = 0;
  uint32_t in_use = 0;             // not free: held in the engine, offered or leased
  uint32_t engine_held = 0;        // a Frame of the slot is alive in the engine
  uint32_t offered_or_leased = 0;  // held only through mailboxes (not in the engine)
  uint32_t mailboxes = 0;
  uint64_t acquired = 0;
  uint64_t exhausted = 0;
  uint64_t published = 0;
  uint64_t rejected_stale = 0;
  uint64_t published_by_copy = 0;  // frames that were not from this pool and had to be copied
  uint64_t bytes_copied = 0;       // pixel bytes copied by publish() (0 when capture uses the pool)
  uint64_t leases_reclaimed = 0;   // leases of dead readers taken back
  uint64_t offers_reclaimed = 0;   // offers pending in a detached mailbox
  // Size of the newest published frame (0 before the first): the frame results are clamped to.
  int32_t last_width = 0, last_height = 0;
};

class ShmFramePool;

// The engine's end of one mailbox. Created by ShmFramePool::attach(); kept by the supervisor
// for one worker process, and dropped with it (so its delivery window never outlives the
// worker instance it describes). Thread-safe: publish() offers from the IPC bridge thread
// while stats(), delivery() and close() run on the supervisor's; the counters and the window
// are guarded by the port's own mutex (a leaf lock, see the file comment).
class MailboxPort {
 public:
  // How many of the latest offers delivery() remembers.
  static constexpr size_t kDeliveryWindow = 256;

  // What became of a frame sequence, as far as this mailbox is concerned.
  enum class Delivery : uint8_t {
    kTaken,         // offered to this mailbox and the reader took it
    kDropped,       // offered, then replaced by a newer offer or closed before it was taken
    kPending,       // offered and still waiting in the offer word
    kNeverOffered,  // not among the offers of the window and not older than its oldest (a
                    // sequence never published, published before attach or while closed, a
                    // future one such as 2^63); stream ids are the caller's to check
    kTooOld,        // older than the oldest offer still in the window: unknown
  };

  ~MailboxPort();
  MailboxPort(const MailboxPort&) = delete;
  MailboxPort& operator=(const MailboxPort&) = delete;

  const std::string& name() const;
  // Read-write descriptor of the mailbox segment, for the worker (owned by the port: dup it or
  // let posix_spawn dup2 it).
  int fd() const;
  MailboxStats stats() const;
  // What became of the frame `sequence` of this stream (see Delivery). Exact for the last
  // kDeliveryWindow offers. Like stats(), it first looks whether the reader took the pending
  // offer, so a frame taken a moment ago is kTaken, not kPending.
  Delivery delivery(uint64_t sequence) const;
  // No more offers; a pending offer becomes a drop; the reader is woken and sees "closed".
  void close();

  struct Impl;

 private:
  friend class ShmFramePool;
  explicit MailboxPort(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

// "taken", "dropped", "pending", "never_offered", "too_old" (for messages and logs).
const char* to_string(MailboxPort::Delivery d);

class ShmFramePool final : public FramePool {
 public:
  // Error codes: "pool.bad_options" (also: a device pool without an allocation, a handle or
  // enough bytes), "ipc.shm_create", "ipc.shm_map", "ipc.shm_seal".
  static Result<std::shared_ptr<ShmFramePool>> create(ShmFramePoolOptions options);
  // Bytes of device memory a device pool of these options needs (slot_count page-rounded slots).
  static uint64_t device_bytes_needed(const ShmFramePoolOptions& options);
  ~ShmFramePool() override;
  ShmFramePool(const ShmFramePool&) = delete;
  ShmFramePool& operator=(const ShmFramePool&) = delete;

  // A frame whose pixels live in a free slot. Error codes: "pool.bad_layout" (no pixels, device
  // memory, or larger than slot_capacity), "pool.exhausted" (every slot held, offered or leased).
  Result<MutableFramePtr> acquire(const FrameLayout& layout) override;
  PoolStats stats() const override;
  ShmPoolStats shm_stats() const;

  // Offers `frame` to every attached mailbox. A frame of this pool is offered in place (zero
  // copy); any other host frame is first copied into a slot (counted in bytes_copied) of a host
  // pool. Error codes: "ipc.not_newer" (sequence not greater than the last published; counted),
  // "pool.exhausted" / "pool.bad_layout" (only when a copy was needed), "ipc.memory_kind" (a
  // device frame for a host pool, or any frame not of this pool for a device pool: device
  // memory is copied on the GPU by the caller, into a slot it acquired).
  Status publish(const FramePtr& frame);

  // Whether any mailbox is attached (a worker reads this stream). O(1) under mu.
  bool has_mailboxes() const;

  // A new mailbox for one reader. It starts empty: the reader gets the next published frame.
  // Error codes: "ipc.shm_create", "ipc.shm_map", "ipc.shm_seal".
  Result<std::shared_ptr<MailboxPort>> attach(std::string name);
  // Closes the mailbox, stops offering to it and takes back its offer and lease: their slots
  // become free at once. Precondition: its reader is dead (reaped) or has stopped reading.
  void detach_and_reclaim(const std::shared_ptr<MailboxPort>& port);

  // A descriptor of the pool segment for a reader: opened O_RDONLY (checked), close-on-exec;
  // the caller owns it. Even reopened read-write it cannot write: the segment is sealed.
  // Error code: "ipc.shm_reopen".
  Result<UniqueFd> reader_fd() const;
  const PoolGeometry& geometry() const;
  StreamId stream_id() const;

  struct State;

 private:
  explicit ShmFramePool(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace orion::ipc
