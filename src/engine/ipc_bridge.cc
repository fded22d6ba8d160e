#include "engine/ipc_bridge.h"

#include "core/thread.h"

namespace orion::engine {

IpcBridge::IpcBridge(std::string stream, FrameSupplier& supplier,
                     std::shared_ptr<ipc::ShmFramePool> pool)
    : stream_(std::move(stream)),
      pool_(std::move(pool)),
      sub_(supplier.subscribe("ipc", SlaClass::kCritical)) {}

IpcBridge::~IpcBridge() { stop(); }

void IpcBridge::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void IpcBridge::stop() {
  if (sub_) sub_->unsubscribe();  // next_frame() returns "closed"
  if (thread_.joinable()) thread_.join();
}

void IpcBridge::run() {
  set_current_thread_name("ipc-" + stream_);
  for (;;) {
    auto f = sub_->next_frame();
    if (!f.ok()) return;  // closed
    if (pool_->publish(*f).ok())
      published_.fetch_add(1);
    else
      errors_.fetch_add(1);
  }
}

}  // namespace orion::engine
