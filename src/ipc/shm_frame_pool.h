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
// Statistics per mailbox are exact and conserve at every snapshot:
//   offered = taken + dropped + pending   (pending 0 or 1; a pending frame at close is dropped)
// `taken` is derived from the engine's own counters and the offer word, not from what a worker
// wrote; the worker's own count is reported beside it (worker_taken) for cross-checking.
//
// Lifecycle: create() → attach()/acquire()/publish() → detach_and_reclaim() per mailbox →
// destruction. Frames and MailboxPorts may outlive the pool object (they keep its state alive).
//
// Thread-safety: every member is thread-safe. publish() calls are serialised by publish_mu;
// slot bookkeeping and the mailbox list are guarded by mu. Lock order: publish_mu → mu.
// publish() never blocks on a worker: it is O(mailboxes) atomic operations plus, when any
// worker sleeps, one FUTEX_WAKE on the pool's wake word for all of them (ADR 0031).
#pragma once

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

struct ShmFramePoolOptions {
  StreamId stream_id = 1;
  std::string stream_name = "stream";
  // Enough for every frame the engine holds (capture, supplier inbox/latest, compositor, ...)
  // plus two per mailbox (one offered, one leased). Memory is committed only for slots used.
  uint32_t slot_count = 16;
  size_t slot_capacity = size_t{1920} * 1080 * 3;  // largest frame in bytes
};

struct MailboxStats {
  std::string name;
  uint64_t offered = 0;
  uint64_t taken = 0;    // offered - dropped - pending (exact)
  uint64_t dropped = 0;  // offers replaced (or closed) before the worker took them
  uint64_t pending = 0;  // 1 when an offer waits
  bool closed = false;
  bool lease_held = false;     // the worker holds a slot right now
  uint64_t worker_taken = 0;   // what the worker wrote (informational)
  uint64_t last_sequence = 0;  // sequence of the last frame the worker took
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
};

class ShmFramePool;

// The engine's end of one mailbox. Created by ShmFramePool::attach(); kept by the supervisor
// for one worker process. Thread-safe.
class MailboxPort {
 public:
  ~MailboxPort();
  MailboxPort(const MailboxPort&) = delete;
  MailboxPort& operator=(const MailboxPort&) = delete;

  const std::string& name() const;
  // Read-write descriptor of the mailbox segment, for the worker (owned by the port: dup it or
  // let posix_spawn dup2 it).
  int fd() const;
  MailboxStats stats() const;
  // No more offers; a pending offer becomes a drop; the reader is woken and sees "closed".
  void close();

  struct Impl;

 private:
  friend class ShmFramePool;
  explicit MailboxPort(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

class ShmFramePool final : public FramePool {
 public:
  // Error codes: "pool.bad_options", "ipc.shm_create", "ipc.shm_map".
  static Result<std::shared_ptr<ShmFramePool>> create(ShmFramePoolOptions options);
  ~ShmFramePool() override;
  ShmFramePool(const ShmFramePool&) = delete;
  ShmFramePool& operator=(const ShmFramePool&) = delete;

  // A frame whose pixels live in a free slot. Error codes: "pool.bad_layout" (no pixels, device
  // memory, or larger than slot_capacity), "pool.exhausted" (every slot held, offered or leased).
  Result<MutableFramePtr> acquire(const FrameLayout& layout) override;
  PoolStats stats() const override;
  ShmPoolStats shm_stats() const;

  // Offers `frame` to every attached mailbox. A frame of this pool is offered in place (zero
  // copy); any other host frame is first copied into a slot (counted in bytes_copied).
  // Error codes: "ipc.not_newer" (sequence not greater than the last published; counted),
  // "pool.exhausted" / "pool.bad_layout" (only when a copy was needed).
  Status publish(const FramePtr& frame);

  // A new mailbox for one reader. It starts empty: the reader gets the next published frame.
  // Error codes: "ipc.shm_create", "ipc.shm_map".
  Result<std::shared_ptr<MailboxPort>> attach(std::string name);
  // Closes the mailbox, stops offering to it and takes back its offer and lease: their slots
  // become free at once. Precondition: its reader is dead (reaped) or has stopped reading.
  void detach_and_reclaim(const std::shared_ptr<MailboxPort>& port);

  // A read-only descriptor of the pool segment for a reader (close-on-exec; the caller owns it).
  Result<UniqueFd> reader_fd() const;
  const PoolGeometry& geometry() const;
  StreamId stream_id() const;

  struct State;

 private:
  explicit ShmFramePool(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace orion::ipc
