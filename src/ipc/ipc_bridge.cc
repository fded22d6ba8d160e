#include "ipc/ipc_bridge.h"

#include "colour/convert.h"
#include "core/thread.h"

namespace orion::ipc {

IpcBridge::IpcBridge(std::string stream, FrameSupplier& supplier,
                     std::shared_ptr<ShmFramePool> pool)
    : stream_(std::move(stream)),
      pool_(std::move(pool)),
      sub_(supplier.subscribe("ipc", SlaClass::kCritical)) {}

IpcBridge::~IpcBridge() { stop(); }

void IpcBridge::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    run_guarded(
        "ipc-" + stream_, [this] { run(); },
        [this](std::string_view why) {
          {
            MutexLock lock(failure_mu_);
            failure_ = "ipc bridge of stream '" + stream_ + "' died: " + std::string(why);
          }
          sub_->unsubscribe();  // offer no more frames to a mailbox nobody takes from
        });
  });
}

void IpcBridge::stop() {
  if (sub_) sub_->unsubscribe();  // next_frame() returns "closed"
  if (thread_.joinable()) thread_.join();
}

std::string IpcBridge::failure() const {
  MutexLock lock(failure_mu_);
  return failure_;
}

Result<FramePtr> IpcBridge::for_workers(const FramePtr& frame) {
  if (frame->format() == PixelFormat::kBGR24) return frame;
  auto slot =
      pool_->acquire(FrameLayout::packed(PixelFormat::kBGR24, frame->width(), frame->height()));
  if (!slot) return slot.error();
  Frame& bgr = **slot;
  if (auto st = colour::to_bgr(colour::view_of(*frame), bgr.mutable_data(), bgr.stride()); !st)
    return st.error();
  bgr.set_identity(frame->identity());
  return freeze(std::move(*slot));
}

void IpcBridge::run() {
  for (;;) {
    auto f = sub_->next_frame();
    if (!f.ok()) return;  // closed
    if (!pool_->has_mailboxes()) {  // no worker reads this stream: no BGR to make
      skipped_.fetch_add(1);
      continue;
    }
    FramePtr frame = std::move(f.value());
    auto bgr = for_workers(frame);
    frame.reset();  // the decoded frame's slot goes back before the BGR one is offered
    if (!bgr) {
      errors_.fetch_add(1);
      continue;
    }
    if (pool_->publish(*bgr).ok())
      published_.fetch_add(1);
    else
      errors_.fetch_add(1);
  }
}

}  // namespace orion::ipc
