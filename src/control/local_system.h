// LocalSystem: an engine and the REST API in one process over one database — what `orion up`
// runs, and what the in-process tests and benchmarks start to be "orion up" without a child
// process. The EngineNode and the ApiServer each open their own Store on the same URL and share
// nothing else (the API's /metrics renders the engine's own counters, the one in-process tie).
//
// Lifecycle: start() (the engine first, so the API never answers for an engine that failed to
// start) → stop() (idempotent; the destructor too): the API (requests in flight finish), then
// the engine. Thread-safety: start/stop from one thread; the accessors from any thread between.
#pragma once

#include <memory>
#include <string>

#include "api/server.h"
#include "control/engine_node.h"
#include "core/result.h"
#include "store/store.h"

namespace orion::control {

struct LocalSystemOptions {
  EngineNodeOptions node;  // node.db is the database of both
  api::ServerOptions api;  // api.metrics is set to the engine's
};

// Options for tests and benchmarks: `db`, RTSP, API and media endpoint on free loopback ports, no
// access log, workers from `worker_executable` ("" = this executable).
LocalSystemOptions loopback_options(const std::string& db, const std::string& worker_executable = "");

class LocalSystem {
 public:
  // Errors: the EngineNode's, the Store's, the ApiServer's.
  static Result<std::unique_ptr<LocalSystem>> start(LocalSystemOptions options);
  ~LocalSystem();
  LocalSystem(const LocalSystem&) = delete;
  LocalSystem& operator=(const LocalSystem&) = delete;

  void stop();
  EngineNode& node() { return *node_; }
  engine::Engine& engine() { return node_->engine(); }
  store::Store& api_store() { return *api_store_; }
  std::string base_url() const { return server_->base_url(); }

 private:
  LocalSystem() = default;
  std::unique_ptr<EngineNode> node_;
  std::unique_ptr<store::Store> api_store_;
  std::unique_ptr<api::ApiServer> server_;
  bool stopped_ = false;
};

}  // namespace orion::control
