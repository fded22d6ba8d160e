#include "api/service.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <set>

#include "api/redact.h"
#include "api/resources.h"

namespace orion::api {

namespace {

using nlohmann::json;
using store::ModelRecord;
using store::PipelineRecord;
using store::StreamRecord;

// Per record type: its words and its store calls.
template <class R>
struct Traits;

template <>
struct Traits<StreamRecord> {
  static constexpr const char* kOne = "stream";
  static constexpr const char* kMany = "streams";
  static auto list(store::Store& s) { return s.list_streams(); }
  static auto get(store::Store& s, const std::string& n) { return s.get_stream(n); }
  static auto create(store::Store& s, const StreamRecord& r) { return s.create_stream(r); }
  static auto update(store::Store& s, const StreamRecord& r, int64_t v) {
    return s.update_stream(r, v);
  }
  static auto remove(store::Store& s, const std::string& n, std::optional<int64_t> v) {
    return s.delete_stream(n, v);
  }
  static auto parse(const json& j) { return stream_from_json(j); }
  static auto patch(const StreamRecord& c, const json& j) { return patch_stream(c, j); }
};

template <>
struct Traits<ModelRecord> {
  static constexpr const char* kOne = "model";
  static constexpr const char* kMany = "models";
  static auto list(store::Store& s) { return s.list_models(); }
  static auto get(store::Store& s, const std::string& n) { return s.get_model(n); }
  static auto create(store::Store& s, const ModelRecord& r) { return s.create_model(r); }
  static auto update(store::Store& s, const ModelRecord& r, int64_t v) {
    return s.update_model(r, v);
  }
  static auto remove(store::Store& s, const std::string& n, std::optional<int64_t> v) {
    return s.delete_model(n, v);
  }
  static auto parse(const json& j) { return model_from_json(j); }
  static auto patch(const ModelRecord& c, const json& j) { return patch_model(c, j); }
};

template <>
struct Traits<PipelineRecord> {
  static constexpr const char* kOne = "pipeline";
  static constexpr const char* kMany = "pipelines";
  static auto list(store::Store& s) { return s.list_pipelines(); }
  static auto get(store::Store& s, const std::string& n) { return s.get_pipeline(n); }
  static auto create(store::Store& s, const PipelineRecord& r) { return s.create_pipeline(r); }
  static auto update(store::Store& s, const PipelineRecord& r, int64_t v) {
    return s.update_pipeline(r, v);
  }
  static auto remove(store::Store& s, const std::string& n, std::optional<int64_t> v) {
    return s.delete_pipeline(n, v);
  }
  static auto parse(const json& j) { return pipeline_from_json(j); }
  static auto patch(const PipelineRecord& c, const json& j) { return patch_pipeline(c, j); }
};

ApiError store_unavailable(const Error& e) {
  if (e.code == "store.invalid") {  // a value the store cannot hold that the validator let by
    return api_error(400, "store.invalid", redact_text(e.message));
  }
  if (e.code == "store.unavailable") {  // the store reconnects by itself (capped backoff)
    return api_error(503, "store.unavailable",
                     redact_text("the database is unreachable; the API reconnects by itself, "
                                 "try again shortly: " +
                                 e.message));
  }
  if (e.code == "store.io" || e.code == "store.open") {
    return api_error(503, "store.io", redact_text("the database failed: " + e.message));
  }
  return api_error(500, "api.internal",
                   redact_text("unexpected store error " + e.code + ": " + e.message));
}

std::string etag(int64_t version) { return "\"" + std::to_string(version) + "\""; }

json null_or(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

double round3(double v) { return static_cast<double>(static_cast<int64_t>(v * 1000)) / 1000; }

}  // namespace

ApiService::ApiService(store::Store& store, ServiceOptions options)
    : store_(store), options_(std::move(options)) {}

int64_t ApiService::now_ms() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Reply ApiService::error_reply(const ApiError& e) {
  Reply r;
  r.status = e.status;
  if (e.code == "store.unavailable") r.headers.emplace_back("Retry-After", "1");
  r.body = json{{"error",
                 {{"code", e.code},
                  {"message", redact_text(e.message)},
                  {"field", e.field.empty() ? json(nullptr) : json(e.field)}}}};
  return r;
}

// ---- store errors -----------------------------------------------------------------------------

template <class R>
ApiError ApiService::from_store(const Error& e, const R& r, std::optional<int64_t> expected) {
  using T = Traits<R>;
  const std::string what = std::string(T::kOne) + " '" + r.name + "'";
  if (e.code == "store.not_found") {
    return api_error(404, "store.not_found", "no " + what, "name");
  }
  if (e.code == "store.exists") {
    return api_error(409, "store.exists", "a " + what + " already exists", "name");
  }
  if (e.code == "store.version_conflict") {
    std::string now;
    if (auto cur = T::get(store_, r.name)) now = " is at version " + std::to_string(cur->version);
    const std::string asked =
        expected ? "; the request was made against version " + std::to_string(*expected) : "";
    return api_error(409, "store.version_conflict",
                     what + (now.empty() ? " changed" : now) + asked +
                         " (it changed since you read it: GET it again and retry)",
                     "version");
  }
  if (e.code == "store.in_use") {
    std::string users;
    if (auto ps = store_.list_pipelines()) {
      for (const auto& p : *ps) {
        const bool uses = (std::string(T::kOne) == "stream" && p.stream == r.name) ||
                          (std::string(T::kOne) == "model" && p.model == r.name);
        if (uses) users += (users.empty() ? "" : ", ") + p.name;
      }
    }
    return api_error(409, "store.in_use",
                     what + " is used by " +
                         (users.empty() ? "a pipeline" : "pipeline(s) " + users) +
                         ": delete or change them first",
                     "name");
  }
  if (e.code == "store.missing_reference") {
    if constexpr (std::is_same_v<R, PipelineRecord>) {
      auto s = store_.get_stream(r.stream);
      if (!s && s.error().code == "store.not_found") {
        return api_error(422, "store.missing_reference",
                         "stream: no stream named '" + r.stream + "' (create it first)", "stream");
      }
      return api_error(422, "store.missing_reference",
                       "model: no model named '" + r.model + "' (create it first)", "model");
    }
    return api_error(422, "store.missing_reference", redact_text(e.message));
  }
  return store_unavailable(e);
}

// ---- answers ----------------------------------------------------------------------------------

namespace {

// Status rows by resource name, read once per request.
struct StatusIndex {
  std::map<std::string, store::StreamStatusRecord> streams;
  std::map<std::string, store::LeaseRecord> leases;  // streams ever leased (scale-out)
  std::map<std::string, store::PipelineStatusRecord> pipelines;
};

std::optional<ApiError> load_status(store::Store& s, bool streams, bool pipelines,
                                    StatusIndex& out) {
  if (streams) {
    auto rows = s.list_stream_status();
    if (!rows) return store_unavailable(rows.error());
    for (auto& row : *rows) out.streams[row.stream] = std::move(row);
    auto leases = s.list_leases();
    if (!leases) return store_unavailable(leases.error());
    for (auto& l : *leases)
      if (l.epoch > 0) out.leases[l.stream] = std::move(l);
  }
  if (pipelines) {
    auto rows = s.list_pipeline_status();
    if (!rows) return store_unavailable(rows.error());
    for (auto& row : *rows) out.pipelines[row.pipeline] = std::move(row);
  }
  return std::nullopt;
}

json with_status(const StreamRecord& r, const StatusIndex& idx) {
  json j = to_json(r);
  auto it = idx.streams.find(r.name);
  if (it == idx.streams.end()) {
    j["state"] = nullptr;
    j["owner_engine"] = nullptr;
    j["output_url"] = nullptr;
    j["last_error"] = nullptr;
  } else {
    j["state"] = null_or(it->second.state);
    j["owner_engine"] = null_or(it->second.engine_id);
    j["output_url"] = null_or(it->second.output_url);
    j["last_error"] = null_or(it->second.last_error);
  }
  // Scale-out: the lease says who owns the stream now. A status row of an earlier owner (or of
  // an epoch since replaced) does not name the owner nor its output.
  if (auto l = idx.leases.find(r.name); l != idx.leases.end()) {
    const store::LeaseRecord& lease = l->second;
    const bool owned = !lease.engine_id.empty() && lease.expires_in_ms > 0;
    j["owner_engine"] = owned ? json(lease.engine_id) : json(nullptr);
    j["epoch"] = lease.epoch;
    const bool current = it != idx.streams.end() && it->second.epoch == lease.epoch &&
                         it->second.engine_id == lease.engine_id;
    if (!owned || !current) {
      j["output_url"] = nullptr;
      j["state"] = owned ? "moving" : "unassigned";
    }
  }
  return j;
}

json with_status(const ModelRecord& r, const StatusIndex&) { return to_json(r); }

json with_status(const PipelineRecord& r, const StatusIndex& idx) {
  json j = to_json(r);
  auto it = idx.pipelines.find(r.name);
  if (it == idx.pipelines.end()) {
    j["state"] = nullptr;
    j["owner_engine"] = nullptr;
    j["last_error"] = nullptr;
    j["pid"] = nullptr;
  } else {
    j["state"] = null_or(it->second.state);
    j["owner_engine"] = null_or(it->second.engine_id);
    j["last_error"] = null_or(it->second.last_error);
    j["pid"] = it->second.pid > 0 ? json(it->second.pid) : json(nullptr);
  }
  return j;
}

template <class R>
std::optional<ApiError> load_status_for(store::Store& s, StatusIndex& idx) {
  return load_status(s, std::is_same_v<R, StreamRecord>, std::is_same_v<R, PipelineRecord>, idx);
}

}  // namespace

// ---- CRUD -------------------------------------------------------------------------------------

template <class R>
Reply ApiService::list_impl() {
  using T = Traits<R>;
  auto rows = T::list(store_);
  if (!rows) return error_reply(store_unavailable(rows.error()));
  StatusIndex idx;
  if (auto e = load_status_for<R>(store_, idx)) return error_reply(*e);
  json items = json::array();
  for (const auto& r : *rows) items.push_back(with_status(r, idx));
  return Reply{200, json{{T::kMany, std::move(items)}}, {}};
}

template <class R>
Reply ApiService::get_impl(const std::string& name) {
  using T = Traits<R>;
  auto r = T::get(store_, name);
  if (!r) {
    R probe;
    probe.name = name;
    return error_reply(from_store(r.error(), probe, std::nullopt));
  }
  StatusIndex idx;
  if (auto e = load_status_for<R>(store_, idx)) return error_reply(*e);
  return Reply{200, with_status(*r, idx), {{"ETag", etag(r->version)}}};
}

template <class R>
Reply ApiService::create_impl(const json& body) {
  using T = Traits<R>;
  auto parsed = T::parse(body);
  if (!parsed) return error_reply(parsed.error());
  auto created = T::create(store_, *parsed);
  if (!created) return error_reply(from_store(created.error(), *parsed, std::nullopt));
  StatusIndex idx;
  if (auto e = load_status_for<R>(store_, idx)) return error_reply(*e);
  return Reply{201,
               with_status(*created, idx),
               {{"ETag", etag(created->version)},
                {"Location", std::string("/api/v1/") + T::kMany + "/" + created->name}}};
}

template <class R>
Reply ApiService::patch_impl(const std::string& name, const json& body,
                             const std::optional<std::string>& if_match) {
  using T = Traits<R>;
  auto current = T::get(store_, name);
  if (!current) {
    R probe;
    probe.name = name;
    return error_reply(from_store(current.error(), probe, std::nullopt));
  }
  auto patched = T::patch(*current, body);
  if (!patched) return error_reply(patched.error());
  std::optional<int64_t> expected = patched->version;
  if (if_match) {
    auto v = parse_version_text(*if_match, "If-Match");
    if (!v) return error_reply(v.error());
    if (expected && *expected != *v) {
      return error_reply(api_error(400, "api.invalid_field",
                                   "version: the body says " + std::to_string(*expected) +
                                       " and If-Match says " + std::to_string(*v),
                                   "version"));
    }
    expected = *v;
  }
  if (!expected) {
    return error_reply(api_error(400, "api.version_required",
                                 "version: a PATCH must say which version it changes: give "
                                 "\"version\" in the body or an If-Match header (the version "
                                 "GET showed; now " +
                                     std::to_string(current->version) + ")",
                                 "version"));
  }
  auto updated = T::update(store_, patched->record, *expected);
  if (!updated) return error_reply(from_store(updated.error(), patched->record, expected));
  StatusIndex idx;
  if (auto e = load_status_for<R>(store_, idx)) return error_reply(*e);
  return Reply{200, with_status(*updated, idx), {{"ETag", etag(updated->version)}}};
}

template <class R>
Reply ApiService::remove_impl(const std::string& name, const std::optional<std::string>& version) {
  using T = Traits<R>;
  std::optional<int64_t> expected;
  if (version) {
    auto v = parse_version_text(*version, "version");
    if (!v) return error_reply(v.error());
    expected = *v;
  }
  R probe;
  probe.name = name;
  if (auto st = T::remove(store_, name, expected); !st) {
    return error_reply(from_store(st.error(), probe, expected));
  }
  return Reply{200, json{{"deleted", name}, {"kind", T::kOne}}, {}};
}

Reply ApiService::list(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kStream:
      return list_impl<StreamRecord>();
    case ResourceKind::kModel:
      return list_impl<ModelRecord>();
    case ResourceKind::kPipeline:
      return list_impl<PipelineRecord>();
  }
  return error_reply(api_error(500, "api.internal", "unknown resource kind"));
}

Reply ApiService::get(ResourceKind kind, const std::string& name) {
  switch (kind) {
    case ResourceKind::kStream:
      return get_impl<StreamRecord>(name);
    case ResourceKind::kModel:
      return get_impl<ModelRecord>(name);
    case ResourceKind::kPipeline:
      return get_impl<PipelineRecord>(name);
  }
  return error_reply(api_error(500, "api.internal", "unknown resource kind"));
}

Reply ApiService::create(ResourceKind kind, const json& body) {
  switch (kind) {
    case ResourceKind::kStream:
      return create_impl<StreamRecord>(body);
    case ResourceKind::kModel:
      return create_impl<ModelRecord>(body);
    case ResourceKind::kPipeline:
      return create_impl<PipelineRecord>(body);
  }
  return error_reply(api_error(500, "api.internal", "unknown resource kind"));
}

Reply ApiService::patch(ResourceKind kind, const std::string& name, const json& body,
                        const std::optional<std::string>& if_match) {
  switch (kind) {
    case ResourceKind::kStream:
      return patch_impl<StreamRecord>(name, body, if_match);
    case ResourceKind::kModel:
      return patch_impl<ModelRecord>(name, body, if_match);
    case ResourceKind::kPipeline:
      return patch_impl<PipelineRecord>(name, body, if_match);
  }
  return error_reply(api_error(500, "api.internal", "unknown resource kind"));
}

Reply ApiService::remove(ResourceKind kind, const std::string& name,
                         const std::optional<std::string>& version) {
  switch (kind) {
    case ResourceKind::kStream:
      return remove_impl<StreamRecord>(name, version);
    case ResourceKind::kModel:
      return remove_impl<ModelRecord>(name, version);
    case ResourceKind::kPipeline:
      return remove_impl<PipelineRecord>(name, version);
  }
  return error_reply(api_error(500, "api.internal", "unknown resource kind"));
}

// ---- events, stats, engines, health -----------------------------------------------------------

Reply ApiService::events(const QueryParams& params) {
  auto q = event_query_from_params(params);
  if (!q) return error_reply(q.error());
  auto rows = store_.query_events(*q);
  if (!rows) return error_reply(store_unavailable(rows.error()));
  json items = json::array();
  int64_t next_after = q->after_id;
  for (const auto& e : *rows) {
    items.push_back(json{{"id", e.id},
                         {"stream", e.stream},
                         {"pipeline", e.pipeline},
                         {"sequence", e.sequence},
                         {"pts_ns", e.pts_ns},
                         {"capture_ns", e.capture_ns},
                         {"wall_time_ms", e.wall_time_ms},
                         {"time", format_iso8601_ms(e.wall_time_ms)},
                         {"class_id", e.class_id},
                         {"class_name", e.class_name},
                         {"score", e.score},
                         {"box", {{"x1", e.x1}, {"y1", e.y1}, {"x2", e.x2}, {"y2", e.y2}}}});
    next_after = std::max(next_after, e.id);
  }
  return Reply{200, json{{"events", std::move(items)}, {"next_after", next_after}}, {}};
}

namespace {

json age_since(const std::string& iso, int64_t now) {
  auto t = parse_iso8601_ms(iso);
  if (!t) return nullptr;
  return round3(static_cast<double>(std::max<int64_t>(0, now - *t)) / 1000.0);
}

json counts(const std::map<std::string, uint64_t>& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

}  // namespace

namespace {

// A status row's latency figures (JSON text written by the engine); null if unreadable.
json latency_of(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

}  // namespace

Reply ApiService::stats() {
  auto streams = store_.list_stream_status();
  if (!streams) return error_reply(store_unavailable(streams.error()));
  auto pipes = store_.list_pipeline_status();
  if (!pipes) return error_reply(store_unavailable(pipes.error()));
  auto desired = store_.list_pipelines();
  if (!desired) return error_reply(store_unavailable(desired.error()));
  std::map<std::string, std::string> stream_of;
  for (const auto& p : *desired) stream_of[p.name] = p.stream;
  const int64_t now = now_ms();
  json js = json::array();
  for (const auto& s : *streams) {
    js.push_back(json{{"name", s.stream},
                      {"owner_engine", null_or(s.engine_id)},
                      {"state", null_or(s.state)},
                      {"last_error", null_or(s.last_error)},
                      {"fps_in", s.fps_in},
                      {"fps_out", s.fps_out},
                      {"frames_in", s.frames_in},
                      {"frames_out", s.frames_out},
                      {"reconnects", s.reconnects},
                      {"output_url", null_or(s.output_url)},
                      {"latency", latency_of(s.latency)},
                      {"updated_at", s.updated_at},
                      {"age_s", age_since(s.updated_at, now)}});
  }
  json jp = json::array();
  for (const auto& p : *pipes) {
    const uint64_t done = p.taken + p.dropped;
    auto it = stream_of.find(p.pipeline);
    jp.push_back(json{
        {"name", p.pipeline},
        {"stream", it == stream_of.end() ? json(nullptr) : json(it->second)},
        {"owner_engine", null_or(p.engine_id)},
        {"state", null_or(p.state)},
        {"last_error", null_or(p.last_error)},
        {"pid", p.pid > 0 ? json(p.pid) : json(nullptr)},
        {"offered", p.offered},
        {"taken", p.taken},
        {"dropped", p.dropped},
        {"pending", p.offered >= done ? p.offered - done : 0},
        {"results", p.results},
        {"restarts", p.restarts},
        {"restart_reasons", counts(p.restart_reasons)},
        {"violations", counts(p.violations)},
        {"last_result_age_s", p.last_result_age_s < 0 ? json(nullptr) : json(p.last_result_age_s)},
        {"latency", latency_of(p.latency)},
        {"updated_at", p.updated_at},
        {"age_s", age_since(p.updated_at, now)}});
  }
  return Reply{200,
               json{{"streams", std::move(js)},
                    {"pipelines", std::move(jp)},
                    {"generated_at", format_iso8601_ms(now)}},
               {}};
}

Reply ApiService::engines() {
  auto engines = store_.list_engines();
  if (!engines) return error_reply(store_unavailable(engines.error()));
  auto loads = store_.list_engine_loads();
  if (!loads) return error_reply(store_unavailable(loads.error()));
  auto leases = store_.list_leases();
  if (!leases) return error_reply(store_unavailable(leases.error()));
  auto streams = store_.list_stream_status();
  if (!streams) return error_reply(store_unavailable(streams.error()));
  const int64_t now = now_ms();
  json out = json::array();
  for (const auto& e : *engines) {
    // Streams held: live leases naming it (scale-out); for streams never leased, the status
    // rows it wrote (an engine of a build before leases).
    json held = json::array();
    std::set<std::string> leased;
    for (const auto& l : *leases) {
      if (l.epoch > 0) leased.insert(l.stream);
      if (l.engine_id == e.id && l.expires_in_ms > 0) held.push_back(l.stream);
    }
    for (const auto& s : *streams)
      if (s.engine_id == e.id && !leased.count(s.stream)) held.push_back(s.stream);
    std::string state = e.state;
    for (const auto& l : *loads)
      if (l.id == e.id && !l.live) state = "gone";  // its heartbeat lease expired
    out.push_back(json{{"id", e.id},
                       {"media_url", null_or(e.media_url)},
                       {"rtsp_url", null_or(e.rtsp_url)},
                       {"max_streams", e.max_streams},
                       {"capacity", e.max_streams > 0 ? json(e.max_streams) : json(nullptr)},
                       {"state", state},
                       {"started_at", e.started_at},
                       {"heartbeat_at", e.heartbeat_at},
                       {"heartbeat_age_s", age_since(e.heartbeat_at, now)},
                       {"streams_held", held.size()},
                       {"streams", std::move(held)}});
  }
  return Reply{200, json{{"engines", std::move(out)}}, {}};
}

Reply ApiService::health() {
  auto rev = store_.desired_revision();
  if (!rev) {
    Reply r = error_reply(store_unavailable(rev.error()));
    r.status = 503;
    r.body["status"] = "unavailable";
    return r;
  }
  return Reply{200,
               json{{"status", "ok"}, {"store", store_.url_redacted()}, {"desired_revision", *rev}},
               {}};
}

// ---- snapshot ---------------------------------------------------------------------------------

std::variant<ApiService::MediaTarget, Reply> ApiService::media_target(
    const std::string& name, const std::string& code_prefix) {
  auto stream = store_.get_stream(name);
  if (!stream) {
    StreamRecord probe;
    probe.name = name;
    return error_reply(from_store(stream.error(), probe, std::nullopt));
  }
  auto statuses = store_.list_stream_status();
  if (!statuses) return error_reply(store_unavailable(statuses.error()));
  const store::StreamStatusRecord* status = nullptr;
  for (const auto& s : *statuses)
    if (s.stream == name && !s.engine_id.empty()) status = &s;
  if (status == nullptr) {
    return error_reply(api_error(503, code_prefix + ".not_running",
                                 "stream '" + name +
                                     "' is not running on any engine (no engine "
                                     "reports it), so there is no frame to show"));
  }
  auto engines = store_.list_engines();
  if (!engines) return error_reply(store_unavailable(engines.error()));
  const store::EngineRecord* engine = nullptr;
  for (const auto& e : *engines)
    if (e.id == status->engine_id) engine = &e;
  const std::string prefix = "http://";
  if (engine == nullptr || engine->media_url.compare(0, prefix.size(), prefix) != 0) {
    return error_reply(api_error(
        503, code_prefix + ".no_engine",
        "stream '" + name + "' is owned by engine '" + status->engine_id + "', which " +
            (engine == nullptr ? std::string("is not registered")
                               : "has no http:// media address ('" + engine->media_url + "')")));
  }
  // "http://host:port[/base]"
  MediaTarget t;
  t.engine_id = engine->id;
  t.media_url = engine->media_url;
  const std::string rest = engine->media_url.substr(prefix.size());
  const size_t slash = rest.find('/');
  const std::string host_port = rest.substr(0, slash);
  t.base = slash == std::string::npos ? "" : rest.substr(slash);
  while (!t.base.empty() && t.base.back() == '/') t.base.pop_back();
  const size_t colon = host_port.rfind(':');
  t.host = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']')
    t.host = t.host.substr(1, t.host.size() - 2);
  t.port = colon == std::string::npos ? 80 : std::atoi(host_port.c_str() + colon + 1);
  if (t.host.empty() || t.port <= 0 || t.port > 65535) {
    return error_reply(api_error(503, code_prefix + ".no_engine",
                                 "engine '" + engine->id + "' media address '" + engine->media_url +
                                     "' is not a valid http address"));
  }
  return t;
}

std::variant<BinaryReply, Reply> ApiService::snapshot(const std::string& name) {
  return fetch_jpeg(name, "snapshot.jpg", "snapshot");
}

std::variant<BinaryReply, Reply> ApiService::event_frame(const std::string& name,
                                                         uint64_t sequence) {
  return fetch_jpeg(name, "frames/" + std::to_string(sequence) + ".jpg", "frame");
}

std::variant<BinaryReply, Reply> ApiService::fetch_jpeg(const std::string& name,
                                                        const std::string& what,
                                                        const std::string& code_prefix) {
  auto target = media_target(name, code_prefix);
  if (auto* r = std::get_if<Reply>(&target)) return std::move(*r);
  const MediaTarget& t = std::get<MediaTarget>(target);
  const std::string prefix = "http://";
  const std::string host_port =
      (t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host) + ":" +
      std::to_string(t.port);
  const std::string path = t.base + "/media/streams/" + name + "/" + what;
  struct {
    std::string id, media_url;
  } engine_v{t.engine_id, t.media_url};
  const auto* engine = &engine_v;
  httplib::Client client(prefix + host_port);
  if (!client.is_valid()) {
    return error_reply(api_error(503, code_prefix + ".no_engine",
                                 "engine '" + engine->id + "' media address '" + engine->media_url +
                                     "' is not a valid http address"));
  }
  const auto timeout = options_.snapshot_timeout.to_chrono();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
  client.set_connection_timeout(secs.count(), usecs.count());
  client.set_read_timeout(secs.count(), usecs.count());
  client.set_write_timeout(secs.count(), usecs.count());
  client.set_follow_location(false);
  client.set_keep_alive(false);
  if (!options_.engine_token.empty()) client.set_bearer_token_auth(options_.engine_token.c_str());

  std::string body;
  bool too_big = false;
  int status_code = 0;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> frame_headers;
  auto res = client.Get(
      path,
      [&](const httplib::Response& r) {
        status_code = r.status;
        content_type = r.get_header_value("Content-Type");
        for (const char* h :
             {"X-Orion-Frame-Sequence", "X-Orion-Frame-Pts-Ns", "X-Orion-Capture-Unix-Us"}) {
          const std::string v = r.get_header_value(h);
          const bool integer = !v.empty() && v.size() <= 20 &&
                               std::all_of(v.begin() + (v[0] == '-' ? 1 : 0), v.end(),
                                           [](unsigned char c) { return std::isdigit(c) != 0; }) &&
                               v != "-";
          if (integer) frame_headers.emplace_back(h, v);
        }
        return true;
      },
      [&](const char* data, size_t n) {
        if (body.size() + n > options_.max_snapshot_bytes) {
          too_big = true;
          return false;
        }
        body.append(data, n);
        return true;
      });
  const std::string from = "engine '" + engine->id + "' (" + engine->media_url + path + ")";
  if (too_big) {
    return error_reply(api_error(
        502, code_prefix + ".engine_error",
        from + " sent a JPEG over " + std::to_string(options_.max_snapshot_bytes) + " bytes"));
  }
  if (!res) {
    return error_reply(api_error(503, code_prefix + ".engine_unreachable",
                                 from + " did not answer: " + httplib::to_string(res.error())));
  }
  if (status_code == 404) {
    return error_reply(api_error(404, code_prefix + ".not_available",
                                 code_prefix == "frame"
                                     ? from + " no longer holds that frame of stream '" + name +
                                           "' (it keeps the last frames that produced detections)"
                                     : from + " has no frame of stream '" + name + "' yet"));
  }
  if (status_code != 200) {
    return error_reply(api_error(502, code_prefix + ".engine_error",
                                 from + " answered HTTP " + std::to_string(status_code)));
  }
  if (content_type.rfind("image/jpeg", 0) != 0) {
    return error_reply(api_error(502, code_prefix + ".engine_error",
                                 from + " answered '" + content_type + "', not image/jpeg"));
  }
  return BinaryReply{"image/jpeg", std::move(body), std::move(frame_headers)};
}

}  // namespace orion::api
