// IpcBridge: hands a stream's frames to its worker processes. It is one in-engine subscriber
// ("ipc") of the stream's FrameSupplier; each frame it takes is published into the stream's
// ShmFramePool, which offers it to every worker mailbox.
//
// Workers read BGR24 (ADR 0020, kept by ADR 0080). The engine's frames stay in the decoder's
// layout (I420/NV12), so the bridge makes the BGR once per frame, for all the workers of the
// stream: it converts into a fresh slot of the same pool (the slot header's format says
// BGR24) and publishes that slot in place, zero copy to every mailbox. It does so only while
// at least one mailbox is attached (the stream has a pipeline): a stream without workers never
// pays for a conversion (frames_skipped() counts those frames). A frame already in BGR24 of
// this pool is published as it is (nothing converted or copied).
//
// Hop boundary: run() takes a frame ("taken by ipc") and publish() offers it to the workers.
//
// Why a subscriber and not a hook in the supplier: publish() into the pool never blocks, but it
// does a futex wake per sleeping worker; keeping that off the supplier's distribution thread
// keeps the in-engine subscribers (compositor) independent of the number of workers.
//
// Lifecycle: start() → stop() (idempotent; also the destructor); the thread ("ipc-<stream>")
// also ends when the supplier stops. If an exception escapes the thread, it unsubscribes (the
// workers get no more frames from this stream) and failure() says why; the process goes on.
// Thread-safety: start/stop from the owner thread; frames_published(), publish_errors() and
// failure() from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/frame_supplier.h"
#include "core/thread_annotations.h"
#include "ipc/shm_frame_pool.h"

namespace orion::ipc {

class IpcBridge {
 public:
  IpcBridge(std::string stream, FrameSupplier& supplier, std::shared_ptr<ShmFramePool> pool);
  ~IpcBridge();
  IpcBridge(const IpcBridge&) = delete;
  IpcBridge& operator=(const IpcBridge&) = delete;

  void start();
  void stop();
  uint64_t frames_published() const { return published_.load(); }
  uint64_t publish_errors() const { return errors_.load(); }
  // Frames taken while no worker read the stream (not converted, not published).
  uint64_t frames_skipped() const { return skipped_.load(); }
  // Why the thread died ("" while it runs or after a clean stop).
  std::string failure() const;

 private:
  void run();
  // `frame` as workers read it: itself when BGR24, else a BGR24 copy in a slot of the pool.
  Result<FramePtr> for_workers(const FramePtr& frame);

  std::string stream_;
  std::shared_ptr<ShmFramePool> pool_;
  std::unique_ptr<Subscription> sub_;
  std::thread thread_;
  std::atomic<uint64_t> published_{0}, errors_{0}, skipped_{0};  // read without a lock
  mutable Mutex failure_mu_;                        // a leaf
  std::string failure_ GUARDED_BY(failure_mu_);
};

}  // namespace orion::ipc
