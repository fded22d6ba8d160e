// ApiService: what each REST call does, over the Store — the middle layer of the API
// (handlers in server.cc → this service → store::Store; oatpp's controller → service → db).
// It takes parsed JSON and query parameters and gives back a Reply (HTTP status, JSON body,
// headers); it never sees a socket. Validation is api/resources.h; the mapping of store errors to
// HTTP statuses is here, in one place:
//   store.not_found → 404          store.exists → 409 (field name)
//   store.version_conflict → 409 (field version; the message gives the current version)
//   store.in_use → 409             store.missing_reference → 422 (field stream or model)
//   store.invalid → 400            store.io, store.open → 503     anything else → 500
//   store.unavailable → 503 with Retry-After: 1 (the database cannot be reached; the Store
//   reconnects by itself, so the next request after it is back succeeds)       api.internal
//
// Read-only fields in answers (null when no engine reports the resource):
//   stream    state, owner_engine, output_url, last_error   (from its stream status row)
//   pipeline  state, owner_engine, last_error, pid           (from its pipeline status row)
// Every answer goes through redact_json (api/resources.h) before it leaves the server.
//
// Snapshots: `GET streams/{name}/snapshot.jpg` asks the engine that owns the stream (its status
// row's engine_id → EngineRecord::media_url) for
//   GET <media_url>/media/streams/<name>/snapshot.jpg
// with ServiceOptions::snapshot_timeout, at most max_snapshot_bytes, no redirects followed,
// `Authorization: Bearer <engine_token>` when there is one (ApiServer gives its own token,
// ORION_API_TOKEN: engine and API share it), and relays the JPEG. Errors: 404 store.not_found (no
// such stream), 503 snapshot.not_running (no engine reports the stream), 503 snapshot.no_engine
// (its engine is not registered or has no media address), 503 snapshot.engine_unreachable, 404
// snapshot.not_available (the engine has no frame yet), 502 snapshot.engine_error (any other answer
// — a 401 when the engine wants another token — or not a JPEG).
//
// Lifecycle: borrows the Store, which must outlive it. Thread-safety: thread-safe (the Store is;
// the service keeps no mutable state).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "api/api_error.h"
#include "core/time.h"
#include "store/store.h"

namespace orion::api {

using Headers = std::vector<std::pair<std::string, std::string>>;
using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct Reply {
  int status = 200;
  nlohmann::json body;  // always an object
  Headers headers;      // ETag, Location, ...
};

// A non-JSON answer (the snapshot JPEG); an error is a JSON Reply instead.
struct BinaryReply {
  std::string content_type;
  std::string body;
  // Headers relayed from the engine: the frame's X-Orion-Frame-Sequence, X-Orion-Frame-Pts-Ns
  // and X-Orion-Capture-Unix-Us, each only when it is a decimal integer.
  std::vector<std::pair<std::string, std::string>> headers;
};

enum class ResourceKind { kStream, kModel, kPipeline };

struct ServiceOptions {
  // Wall-clock Unix time in ms (heartbeat and status ages); default: the system clock.
  std::function<int64_t()> now_ms;
  Duration snapshot_timeout = Duration::seconds(2);
  size_t max_snapshot_bytes = 16u << 20;
  // Sent as `Authorization: Bearer` to engines' media endpoints ("" = none). ApiServer::start
  // sets it to ServerOptions::token when it is empty here.
  std::string engine_token;
};

class ApiService {
 public:
  explicit ApiService(store::Store& store, ServiceOptions options = {});

  Reply list(ResourceKind kind);
  Reply get(ResourceKind kind, const std::string& name);
  Reply create(ResourceKind kind, const nlohmann::json& body);
  // `if_match`: the If-Match header when given; the body may carry `version` instead (both
  // given must agree).
  Reply patch(ResourceKind kind, const std::string& name, const nlohmann::json& body,
              const std::optional<std::string>& if_match);
  // `version`: from ?version= or If-Match, optional (given and stale → 409).
  Reply remove(ResourceKind kind, const std::string& name,
               const std::optional<std::string>& version);

  Reply events(const QueryParams& params);
  Reply stats();
  Reply engines();
  Reply health();

  // The JPEG, or the error Reply.
  std::variant<BinaryReply, Reply> snapshot(const std::string& name);
  // The JPEG of event frame `sequence` of stream `name` (GET <media_url>/media/streams/<name>/
  // frames/<seq>.jpg), as snapshot() with codes frame.*: 404 frame.not_available when the engine
  // no longer holds it.
  std::variant<BinaryReply, Reply> event_frame(const std::string& name, uint64_t sequence);

  // Where the engine that owns stream `name` serves its media: host:port and the path prefix
  // of its media URL. Errors as snapshot()'s with `code_prefix` (live, mjpeg, snapshot, frame):
  // 404 store.not_found, 503 <prefix>.not_running, 503 <prefix>.no_engine.
  struct MediaTarget {
    std::string engine_id;
    std::string media_url;
    std::string host;
    int port = 0;
    std::string base;  // "" or "/prefix"
  };
  std::variant<MediaTarget, Reply> media_target(const std::string& name,
                                                const std::string& code_prefix);
  const ServiceOptions& options() const { return options_; }

  // {"error": {"code", "message", "field"}} with the error's status.
  static Reply error_reply(const ApiError& e);

 private:
  int64_t now_ms() const;
  template <class R>
  Reply list_impl();
  template <class R>
  Reply get_impl(const std::string& name);
  template <class R>
  Reply create_impl(const nlohmann::json& body);
  template <class R>
  Reply patch_impl(const std::string& name, const nlohmann::json& body,
                   const std::optional<std::string>& if_match);
  template <class R>
  Reply remove_impl(const std::string& name, const std::optional<std::string>& version);
  template <class R>
  ApiError from_store(const Error& e, const R& r, std::optional<int64_t> expected);

  std::variant<BinaryReply, Reply> fetch_jpeg(const std::string& name, const std::string& what,
                                              const std::string& code_prefix);

  store::Store& store_;
  ServiceOptions options_;
};

}  // namespace orion::api
