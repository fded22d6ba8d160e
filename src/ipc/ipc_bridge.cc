#include "ipc/ipc_bridge.h"

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

void IpcBridge::run() {
  for (;;) {
    auto f = sub_->next_frame();
    if (!f.ok()) return;  // closed
    if (pool_->publish(*f).ok())
      published_.fetch_add(1);
    else
      errors_.fetch_add(1);
  }
}

}  // namespace orion::ipc
