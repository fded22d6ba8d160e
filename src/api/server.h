// ApiServer: the REST API of DESIGN.md ("Interfaces") over HTTP (cpp-httplib), in front of an
// ApiService (api/service.h) over a Store. The routes are one table (routes()); the OpenAPI
// document docs/api/openapi.json describes exactly that table and is served at
// /api/v1/openapi.json (a test holds the two equal).
//
//   /healthz                                  GET           open even with a token
//   /metrics                                  GET           ServerOptions::metrics (Prometheus)
//   /api/v1/openapi.json                      GET
//   /api/v1/{streams|models|pipelines}        GET, POST (201)
//   /api/v1/{streams|models|pipelines}/{name} GET, PATCH, DELETE
//   /api/v1/streams/{name}/snapshot.jpg       GET           relayed from the owning engine
//   /api/v1/streams/{name}/frames/{seq}.jpg   GET           an event's frame, relayed likewise
//   /api/v1/streams/{name}/live               GET (WebSocket) live view, spliced to the engine
//   /api/v1/streams/{name}/mjpeg              GET           MJPEG, spliced to the engine
//   (these four also take the token as ?token=, for a browser's <img> and WebSocket;
//   docs/design/live_view.md)
//   /api/v1/events  /api/v1/stats  /api/v1/engines   GET
//   /, /<file>                                GET           the dashboard (ServerOptions::web_root,
//                                                           api/static_files.h), open like /healthz
//
// Requests: POST and PATCH bodies must be application/json (PATCH also takes
// application/merge-patch+json; anything else is 415, which also keeps a browser form on
// another site from posting here) and at most max_body_bytes (413; chunked bodies are cut off at
// that size too). Errors are always `{"error": {"code", "message", "field"}}` (api/api_error.h),
// including the ones httplib makes itself (no route 404, wrong method 405 with Allow, 413, 400).
// With a token, every /api/v1 and /metrics request needs `Authorization: Bearer <token>`,
// compared in constant time; without it: 401 and `WWW-Authenticate: Bearer`. There is no CORS:
// browsers on other origins cannot read answers.
//
// Closed by default: start() refuses to serve an address other than loopback without a token,
// unless allow_unauthenticated_remote says so. The token is also what the API presents to
// engines' media endpoints when it relays a snapshot (ServiceOptions::engine_token, unless set).
//
// Logs (spdlog): one line per request (method, path, status, bytes) and every 5xx with its
// message; URLs in them are redacted (api/redact.h).
//
// Lifecycle: start() binds and serves on its own threads (one listener "orion-api", `threads`
// workers "orion-api-http"); stop() (also the destructor) stops accepting, finishes the requests
// in flight and joins every thread (an idle keep-alive connection is dropped within 2 s).
// Answers that leave a request body unread (401, 413) say `Connection: close`. The Store must
// outlive the server. Thread-safety: start/stop/port from one owner thread; handlers run
// concurrently; the metrics callback is called from several threads at once and must be
// thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/service.h"
#include "core/result.h"
#include "store/store.h"

namespace orion::api {

struct ServerOptions {
  std::string address = "127.0.0.1";
  int port = 8080;    // 0: any free port (port() says which)
  std::string token;  // "" = no token required
  bool allow_unauthenticated_remote = false;
  size_t max_body_bytes = 1u << 20;  // 1 MiB
  int threads = 8;
  // GET /metrics: Prometheus text format (supplied by the metrics module). Unset: 404.
  std::function<std::string()> metrics;
  bool access_log = true;
  // The dashboard's folder (index.html and its bundle), served at `/` without a token (the page
  // asks for one; it reads nothing but its own files without it). "" = none: `/` answers 404
  // web.not_built. start() fails with web.no_root when it is set but not a dashboard folder.
  std::string web_root;
  ServiceOptions service;
};

// ORION_API_TOKEN: unset → "" (no token); set but empty, or with whitespace or control
// characters → error api.bad_token.
Result<std::string> token_from_environment();

class ApiServer {
 public:
  // Errors: api.insecure (non-loopback address, no token), api.bad_token, api.bind.
  static Result<std::unique_ptr<ApiServer>> start(store::Store& store, ServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  int port() const;
  std::string base_url() const;  // "http://127.0.0.1:8080"
  void stop();

  // The routes served: method and path in OpenAPI form ("/api/v1/streams/{name}").
  struct Route {
    std::string method;
    std::string path;
  };
  static std::vector<Route> routes();

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The OpenAPI 3.1 document (docs/api/openapi.json, embedded at build time).
std::string_view openapi_document();

}  // namespace orion::api
