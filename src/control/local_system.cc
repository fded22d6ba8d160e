#include "control/local_system.h"

namespace orion::control {

LocalSystemOptions loopback_options(const std::string& db, const std::string& worker_executable) {
  LocalSystemOptions o;
  o.node.db = db;
  o.node.engine.rtsp_port = 0;
  o.node.engine.rtsp_address = "127.0.0.1";
  o.node.engine.http_port = 0;
  o.node.engine.worker_executable = worker_executable;
  o.api.port = 0;
  o.api.access_log = false;
  return o;
}

Result<std::unique_ptr<LocalSystem>> LocalSystem::start(LocalSystemOptions options) {
  std::unique_ptr<LocalSystem> s(new LocalSystem());
  auto node = EngineNode::start(options.node);
  if (!node) return node.error();
  s->node_ = std::move(node.value());
  auto store = store::Store::open(options.node.db);
  if (!store) return store.error();
  s->api_store_ = std::move(store.value());
  EngineNode* n = s->node_.get();
  options.api.metrics = [n] { return n->metrics_text(); };
  auto server = api::ApiServer::start(*s->api_store_, options.api);
  if (!server) return server.error();
  s->server_ = std::move(server.value());
  return s;
}

LocalSystem::~LocalSystem() { stop(); }

void LocalSystem::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (server_) server_->stop();
  if (node_) node_->stop();
}

}  // namespace orion::control
