// SqlStore: Store over sql::Connection. The tables are described once as lists of columns
// (name in SQL + how to read and write the record's member); the statements for each table are
// built from those lists, and one generic body serves streams, models and pipelines (desired
// state), stream status, pipeline status and engines (actual state), and events.
#include "store/sql_store.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "core/device.h"
#include "store/migrations.h"

namespace orion::store {
namespace {

using sql::Params;
using sql::Row;
using sql::Value;

constexpr int kMaxEventLimit = 1000;
constexpr Duration kPollInterval = Duration::millis(100);  // SQLite: changes by other processes
constexpr Duration kListenSlice = Duration::seconds(1);

// ---- values ↔ cells, per member type --------------------------------------------------------

std::string field(const char* column) { return std::string("field '") + column + "'"; }

Error invalid(const char* column, const std::string& why) {
  return make_error("store.invalid", field(column) + " " + why);
}

Result<Value> to_value(const std::string& v, const char* column) {
  if (!sql::is_storable_text(v)) return invalid(column, "is not UTF-8 text without NUL bytes");
  return Value{v};
}
template <class T>
requires std::is_same_v<T, bool> ||
    (std::is_integral_v<T>&& std::is_signed_v<T>)Result<Value> to_value(T v, const char*) {
  if constexpr (std::is_same_v<T, bool>) {
    return Value{v};
  } else {
    return Value{static_cast<int64_t>(v)};
  }
}
Result<Value> to_value(uint64_t v, const char* column) {
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return invalid(column, "is " + std::to_string(v) + ", above 2^63-1");
  }
  return Value{static_cast<int64_t>(v)};
}
Result<Value> to_value(double v, const char* column) {
  if (!std::isfinite(v)) return invalid(column, "is not a finite number");
  return Value{v};
}
template <class C>
Result<Value> to_json(const C& v, const char* column) {
  try {
    return Value{nlohmann::json(v).dump()};
  } catch (const nlohmann::json::exception&) {
    return invalid(column, "holds text that is not UTF-8");
  }
}
Result<Value> to_value(const std::vector<std::string>& v, const char* column) {
  return to_json(v, column);
}
Result<Value> to_value(const std::map<std::string, uint64_t>& v, const char* column) {
  for (const auto& [k, n] : v) {
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return invalid(column, "'" + k + "' is " + std::to_string(n) + ", above 2^63-1");
    }
  }
  return to_json(v, column);
}

Status from_cell(std::string& out, const Row& row, size_t i, const char*) {
  out = row.text(i);
  return {};
}
template <class T>
requires std::is_arithmetic_v<T> Status from_cell(T& out, const Row& row, size_t i, const char*) {
  if constexpr (std::is_same_v<T, bool>) {
    out = row.boolean(i);
  } else if constexpr (std::is_floating_point_v<T>) {
    out = row.f64(i);
  } else {
    out = static_cast<T>(row.i64(i));  // uint64_t: written only when <= 2^63-1
  }
  return {};
}
Status from_cell(std::vector<std::string>& out, const Row& row, size_t i, const char* column) {
  const auto j = nlohmann::json::parse(row.text(i), nullptr, false);
  if (!j.is_array())
    return make_error("store.io", "column '" + std::string(column) + "' holds no JSON list");
  out.clear();
  for (const auto& e : j) {
    if (!e.is_string())
      return make_error("store.io", "column '" + std::string(column) + "' holds a non-text item");
    out.push_back(e.get<std::string>());
  }
  return {};
}
Status from_cell(std::map<std::string, uint64_t>& out, const Row& row, size_t i,
                 const char* column) {
  const auto j = nlohmann::json::parse(row.text(i), nullptr, false);
  if (!j.is_object())
    return make_error("store.io", "column '" + std::string(column) + "' holds no JSON object");
  out.clear();
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number_unsigned()) {
      return make_error("store.io",
                        "column '" + std::string(column) + "' holds a non-count for '" + k + "'");
    }
    out[k] = v.get<uint64_t>();
  }
  return {};
}

// ---- columns ----------------------------------------------------------------------------------

template <class Rec>
struct Column {
  const char* name;
  Result<Value> (*get)(const Rec&, const char* name);
  Status (*set)(Rec&, const Row&, size_t index, const char* name);
};

template <class T>
struct member_of;
template <class C, class T>
struct member_of<T C::*> {
  using owner = C;
};
template <auto M>
using owner_of = typename member_of<decltype(M)>::owner;

// The column `name` holds member M of the record.
template <auto M>
Column<owner_of<M>> col(const char* name) {
  using Rec = owner_of<M>;
  return {
      name, [](const Rec& r, const char* n) { return to_value(r.*M, n); },
      [](Rec& r, const Row& row, size_t i, const char* n) { return from_cell(r.*M, row, i, n); }};
}
// The column `name` holds member Inner of member Outer of the record.
template <auto Outer, auto Inner>
Column<owner_of<Outer>> nested(const char* name) {
  using Rec = owner_of<Outer>;
  return {name, [](const Rec& r, const char* n) { return to_value((r.*Outer).*Inner, n); },
          [](Rec& r, const Row& row, size_t i, const char* n) {
            return from_cell((r.*Outer).*Inner, row, i, n);
          }};
}

template <class Rec>
using Columns = std::vector<Column<Rec>>;

template <class Rec>
Status bind(const Columns<Rec>& cols, const Rec& r, Params& out) {
  for (const auto& c : cols) {
    auto v = c.get(r, c.name);
    if (!v.ok()) return v.error();
    out.push_back(std::move(*v));
  }
  return {};
}

template <class Rec>
Status read(const Columns<Rec>& cols, const Row& row, size_t first, Rec& r) {
  for (size_t k = 0; k < cols.size(); ++k) {
    if (auto s = cols[k].set(r, row, first + k, cols[k].name); !s.ok()) return s;
  }
  return {};
}

template <class Rec>
std::string join(const Columns<Rec>& cols, std::string_view format) {  // format: "%" = name
  std::string out;
  for (const auto& c : cols) {
    if (!out.empty()) out += ", ";
    for (char ch : format) out += ch == '%' ? std::string(c.name) : std::string(1, ch);
  }
  return out;
}

std::string marks(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

// ---- the tables -------------------------------------------------------------------------------

// Desired state: name, the columns below, version, updated_at_ms.
template <class Rec>
struct Desired;

template <>
struct Desired<StreamRecord> {
  static constexpr const char* kTable = "streams";
  static constexpr const char* kResource = "stream";
  static constexpr const char* kUsedBy = "stream";  // pipelines.stream references it
  static const Columns<StreamRecord>& columns() {
    static const Columns<StreamRecord> c{
        col<&StreamRecord::url>("url"), col<&StreamRecord::enabled>("enabled"),
        col<&StreamRecord::loop>("looped"), col<&StreamRecord::tls_verify>("tls_verify"),
        col<&StreamRecord::stall_timeout_ms>("stall_timeout_ms")};
    return c;
  }
  static Status validate(const StreamRecord&) { return {}; }
};

template <>
struct Desired<ModelRecord> {
  static constexpr const char* kTable = "models";
  static constexpr const char* kResource = "model";
  static constexpr const char* kUsedBy = "model";  // pipelines.model references it
  static const Columns<ModelRecord>& columns() {
    static const Columns<ModelRecord> c{col<&ModelRecord::kind>("kind"),
                                        col<&ModelRecord::path>("path"),
                                        col<&ModelRecord::input_width>("input_width"),
                                        col<&ModelRecord::input_height>("input_height"),
                                        col<&ModelRecord::class_names>("class_names"),
                                        col<&ModelRecord::threads>("threads"),
                                        col<&ModelRecord::device>("device")};
    return c;
  }
  static Status validate(const ModelRecord& m) {
    if (m.input_width < 0) return invalid("input_width", "is negative");
    if (m.input_height < 0) return invalid("input_height", "is negative");
    if (m.threads < 0) return invalid("threads", "is negative");
    auto device = parse_inference_device(m.device);
    if (!device) return invalid("device", "is refused: " + device.error().message);
    if (device->to_string() != m.device) {
      return invalid("device",
                     "'" + m.device + "' is not canonical (write '" + device->to_string() + "')");
    }
    return {};
  }
};

template <>
struct Desired<PipelineRecord> {
  static constexpr const char* kTable = "pipelines";
  static constexpr const char* kResource = "pipeline";
  static constexpr const char* kUsedBy = nullptr;  // nothing references a pipeline
  static const Columns<PipelineRecord>& columns() {
    using P = PipelineRecord;
    using E = EventPolicy;
    static const Columns<P> c{col<&P::stream>("stream"),
                              col<&P::model>("model"),
                              col<&P::sla>("sla"),
                              col<&P::min_score>("min_score"),
                              col<&P::iou>("iou"),
                              col<&P::classes>("classes"),
                              col<&P::enabled>("enabled"),
                              col<&P::motion_gate_json>("motion_gate"),
                              col<&P::worker_command>("worker_command"),
                              nested<&P::events, &E::enabled>("events_enabled"),
                              nested<&P::events, &E::classes>("events_classes"),
                              nested<&P::events, &E::min_score>("events_min_score"),
                              nested<&P::events, &E::min_interval_ms>("events_min_interval_ms")};
    return c;
  }
  static Status validate(const PipelineRecord& p) {
    if (p.sla != "critical" && p.sla != "best_effort") {
      return invalid("sla", "is '" + p.sla + "', not critical or best_effort");
    }
    if (!p.motion_gate_json.empty() &&
        nlohmann::json::parse(p.motion_gate_json, nullptr, false).is_discarded()) {
      return invalid("motion_gate_json", "is not JSON");
    }
    if (p.events.min_interval_ms < 0) return invalid("events.min_interval_ms", "is negative");
    return {};
  }
};

template <class Rec>
struct DesiredSql {
  std::string select_all, select_one, insert, update, version_of, remove, remove_versioned, used_by;

  static const DesiredSql& get() {
    static const DesiredSql s = [] {
      using T = Desired<Rec>;
      const auto& c = T::columns();
      const std::string table = T::kTable;
      const std::string all = "name, " + join(c, "%") + ", version, updated_at_ms";
      DesiredSql q;
      q.select_all = "SELECT " + all + " FROM " + table + " ORDER BY name";
      q.select_one = "SELECT " + all + " FROM " + table + " WHERE name = ?";
      q.insert =
          "INSERT INTO " + table + " (" + all + ") VALUES (?, " + marks(c.size()) + ", 1, ?)";
      q.update = "UPDATE " + table + " SET " + join(c, "% = ?") +
                 ", version = version + 1, updated_at_ms = ? WHERE name = ? AND version = ? "
                 "RETURNING version";
      q.version_of = "SELECT version FROM " + table + " WHERE name = ?";
      q.remove = "DELETE FROM " + table + " WHERE name = ?";
      q.remove_versioned = q.remove + " AND version = ?";
      if (T::kUsedBy != nullptr) {
        q.used_by = std::string("SELECT name FROM pipelines WHERE ") + T::kUsedBy +
                    " = ? ORDER BY name LIMIT 5";
      }
      return q;
    }();
    return s;
  }
};

// Actual state: the key column first, the data columns, then the times the store stamps.
template <class Rec>
struct Stamp {
  const char* column;
  std::string Rec::*member;
  bool keep_on_update;  // written by the first insert only
};

template <class Rec>
struct Actual;

template <>
struct Actual<StreamStatusRecord> {
  using R = StreamStatusRecord;
  static constexpr const char* kTable = "stream_status";
  static constexpr const char* kResource = "stream status";
  static constexpr const char* kParent = "stream";  // the key references streams.name
  static const Columns<R>& columns() {
    static const Columns<R> c{col<&R::stream>("stream"),         col<&R::engine_id>("engine_id"),
                              col<&R::state>("state"),           col<&R::last_error>("last_error"),
                              col<&R::fps_in>("fps_in"),         col<&R::fps_out>("fps_out"),
                              col<&R::frames_in>("frames_in"),   col<&R::frames_out>("frames_out"),
                              col<&R::reconnects>("reconnects"), col<&R::output_url>("output_url"),
                              col<&R::latency>("latency"),       col<&R::epoch>("epoch")};
    return c;
  }
  static std::vector<Stamp<R>> stamps() { return {{"updated_at_ms", &R::updated_at, false}}; }
  static const std::string& key(const R& r) { return r.stream; }
};

template <>
struct Actual<PipelineStatusRecord> {
  using R = PipelineStatusRecord;
  static constexpr const char* kTable = "pipeline_status";
  static constexpr const char* kResource = "pipeline status";
  static constexpr const char* kParent = "pipeline";
  static const Columns<R>& columns() {
    static const Columns<R> c{col<&R::pipeline>("pipeline"),
                              col<&R::engine_id>("engine_id"),
                              col<&R::state>("state"),
                              col<&R::last_error>("last_error"),
                              col<&R::pid>("pid"),
                              col<&R::restarts>("restarts"),
                              col<&R::restart_reasons>("restart_reasons"),
                              col<&R::violations>("violations"),
                              col<&R::offered>("offered"),
                              col<&R::taken>("taken"),
                              col<&R::dropped>("dropped"),
                              col<&R::results>("results"),
                              col<&R::last_result_age_s>("last_result_age_s"),
                              col<&R::latency>("latency"),
                              col<&R::epoch>("epoch")};
    return c;
  }
  static std::vector<Stamp<R>> stamps() { return {{"updated_at_ms", &R::updated_at, false}}; }
  static const std::string& key(const R& r) { return r.pipeline; }
};

template <>
struct Actual<EngineRecord> {
  using R = EngineRecord;
  static constexpr const char* kTable = "engines";
  static constexpr const char* kResource = "engine";
  static constexpr const char* kParent = nullptr;
  static const Columns<R>& columns() {
    static const Columns<R> c{col<&R::id>("id"), col<&R::media_url>("media_url"),
                              col<&R::rtsp_url>("rtsp_url"), col<&R::max_streams>("max_streams"),
                              col<&R::state>("state")};
    return c;
  }
  static std::vector<Stamp<R>> stamps() {
    return {{"started_at_ms", &R::started_at, true}, {"heartbeat_at_ms", &R::heartbeat_at, false}};
  }
  static const std::string& key(const R& r) { return r.id; }
  static Status validate(const R& e) {
    if (e.max_streams < 0) return invalid("max_streams", "is negative");
    if (e.state != "running" && e.state != "draining")
      return invalid("state", "is '" + e.state + "', not running or draining");
    return {};
  }
};

template <class Rec>
struct ActualSql {
  std::string select_all, upsert;

  static const ActualSql& get() {
    static const ActualSql s = [] {
      using T = Actual<Rec>;
      const auto& c = T::columns();
      const std::string key = c.front().name;
      std::string stamps, stamp_updates;
      for (const auto& st : T::stamps()) {
        stamps += std::string(", ") + st.column;
        if (!st.keep_on_update)
          stamp_updates += std::string(", ") + st.column + " = excluded." + st.column;
      }
      const Columns<Rec> data(c.begin() + 1, c.end());
      ActualSql q;
      q.select_all = "SELECT " + join(c, "%") + stamps + " FROM " + T::kTable + " ORDER BY " + key;
      q.upsert = "INSERT INTO " + std::string(T::kTable) + " (" + join(c, "%") + stamps +
                 ") VALUES (" + marks(c.size() + T::stamps().size()) + ") ON CONFLICT (" + key +
                 ") DO UPDATE SET " + join(data, "% = excluded.%") + stamp_updates;
      return q;
    }();
    return s;
  }
};

const Columns<EventRecord>& event_columns() {
  using E = EventRecord;
  static const Columns<E> c{col<&E::stream>("stream"),
                            col<&E::pipeline>("pipeline"),
                            col<&E::sequence>("sequence"),
                            col<&E::pts_ns>("pts_ns"),
                            col<&E::capture_ns>("capture_ns"),
                            col<&E::wall_time_ms>("wall_time_ms"),
                            col<&E::class_id>("class_id"),
                            col<&E::class_name>("class_name"),
                            col<&E::score>("score"),
                            col<&E::x1>("x1"),
                            col<&E::y1>("y1"),
                            col<&E::x2>("x2"),
                            col<&E::y2>("y2"),
                            col<&E::epoch>("epoch")};
  return c;
}

std::string quoted(const std::string& name) { return "'" + name + "'"; }

Status check_name(const char* resource, const char* column, const std::string& name) {
  if (name.empty())
    return make_error("store.invalid", std::string(resource) + ": " + field(column) + " is empty");
  if (auto v = to_value(name, column); !v.ok()) {
    return make_error("store.invalid", std::string(resource) + ": " + v.error().message);
  }
  return {};
}

Error prefixed(const std::string& what, const Error& e) {
  return make_error(e.code, what + ": " + e.message);
}

// ---- the store --------------------------------------------------------------------------------

class SqlStore final : public Store {
 public:
  SqlStore(std::unique_ptr<sql::Connection> conn, std::string url)
      : conn_(std::move(conn)), url_(std::move(url)) {}

  std::string url_redacted() const override { return sql::redact_url(url_); }

  Result<std::vector<StreamRecord>> list_streams() override { return list_desired<StreamRecord>(); }
  Result<StreamRecord> get_stream(const std::string& name) override {
    return get_desired<StreamRecord>(name);
  }
  Result<StreamRecord> create_stream(const StreamRecord& r) override { return create_desired(r); }
  Result<StreamRecord> update_stream(const StreamRecord& r, int64_t v) override {
    return update_desired(r, v);
  }
  Status delete_stream(const std::string& name, std::optional<int64_t> v) override {
    return delete_desired<StreamRecord>(name, v);
  }

  Result<std::vector<ModelRecord>> list_models() override { return list_desired<ModelRecord>(); }
  Result<ModelRecord> get_model(const std::string& name) override {
    return get_desired<ModelRecord>(name);
  }
  Result<ModelRecord> create_model(const ModelRecord& r) override { return create_desired(r); }
  Result<ModelRecord> update_model(const ModelRecord& r, int64_t v) override {
    return update_desired(r, v);
  }
  Status delete_model(const std::string& name, std::optional<int64_t> v) override {
    return delete_desired<ModelRecord>(name, v);
  }

  Result<std::vector<PipelineRecord>> list_pipelines() override {
    return list_desired<PipelineRecord>();
  }
  Result<PipelineRecord> get_pipeline(const std::string& name) override {
    return get_desired<PipelineRecord>(name);
  }
  Result<PipelineRecord> create_pipeline(const PipelineRecord& r) override {
    return create_desired(r);
  }
  Result<PipelineRecord> update_pipeline(const PipelineRecord& r, int64_t v) override {
    return update_desired(r, v);
  }
  Status delete_pipeline(const std::string& name, std::optional<int64_t> v) override {
    return delete_desired<PipelineRecord>(name, v);
  }

  Result<int64_t> desired_revision() override {
    return transact(false, "read desired_revision", [&]() -> Result<int64_t> {
      auto r = conn_->exec("SELECT revision FROM desired_revision WHERE id = 1", {});
      if (!r.ok()) return r.error();
      if (r->rows.empty()) return make_error("store.io", "table desired_revision has no row");
      return r->rows[0].i64(0);
    });
  }

  Result<int64_t> wait_desired_revision(int64_t known, Duration limit) override;

  Status heartbeat_engine(const EngineRecord& e) override { return put_actual(e); }
  Result<std::vector<EngineRecord>> list_engines() override { return list_actual<EngineRecord>(); }
  Status put_stream_status(const StreamStatusRecord& s) override { return put_actual(s); }
  Result<std::vector<StreamStatusRecord>> list_stream_status() override {
    return list_actual<StreamStatusRecord>();
  }
  Status put_pipeline_status(const PipelineStatusRecord& s) override { return put_actual(s); }
  Result<std::vector<PipelineStatusRecord>> list_pipeline_status() override {
    return list_actual<PipelineStatusRecord>();
  }

  Result<LeaseRoundResult> lease_round(const LeaseRound& round) override;
  Result<std::vector<LeaseRecord>> list_leases() override;
  Result<std::vector<EngineLoad>> list_engine_loads() override;
  Result<bool> wait_lease_change(Duration limit) override;

  Result<std::vector<int64_t>> insert_events(const std::vector<EventRecord>& batch) override;
  Result<std::vector<EventRecord>> query_events(const EventQuery& q) override;
  Result<int64_t> apply_retention(const Retention& r, int64_t now_ms) override;
  Result<int64_t> count_events() override {
    return transact(false, "count events", [&]() -> Result<int64_t> {
      auto r = conn_->exec("SELECT COUNT(*) FROM events", {});
      if (!r.ok()) return r.error();
      return r->rows.at(0).i64(0);
    });
  }

 private:
  // Runs `body` in one transaction under mu_; commits when it succeeds, rolls back otherwise.
  // A body that failed because the PostgreSQL connection was lost (so nothing was committed)
  // runs once more on a new connection. sql.* errors become store.invalid / store.unavailable
  // (sql.broken: the connection is lost and could not be opened again) / store.io, prefixed
  // with `what`; store.* errors pass as the body made them.
  template <class F>
  auto transact(bool write, const std::string& what, F&& body) -> decltype(body()) {
    using R = decltype(body());
    std::lock_guard lock(mu_);
    for (int attempt = 0;; ++attempt) {
      const bool retry = attempt == 0;
      if (Status began = conn_->begin(write); !began.ok()) {
        if (retry && conn_->lost()) continue;
        return R(to_store_error(what, began.error()));
      }
      R r = body();
      if (!r.ok()) {
        conn_->rollback();
        if (retry && conn_->lost()) continue;
        return R(to_store_error(what, r.error()));
      }
      if (Status c = conn_->commit(); !c.ok()) {
        conn_->rollback();
        Error e = c.error();
        if (e.code == sql::kBroken)  // never retried: it may have been committed
          e.message +=
              " (the connection was lost during COMMIT: the change may or may not be "
              "stored)";
        return R(to_store_error(what, e));
      }
      return r;
    }
  }

  static Error to_store_error(const std::string& what, const Error& e) {
    if (e.code.rfind("store.", 0) == 0) return e;
    // The fencing triggers (migration 3) raise this text on both engines.
    if (e.message.find("orion_stale_epoch") != std::string::npos)
      return make_error("store.stale_epoch", what + ": refused by the database: " + e.message);
    if (e.code == sql::kCheck) return make_error("store.invalid", what + ": " + e.message);
    if (e.code == sql::kBroken) return make_error("store.unavailable", what + ": " + e.message);
    return make_error("store.io", what + ": " + e.message);
  }

  template <class Rec>
  static std::string label(const std::string& name) {
    return std::string(Desired<Rec>::kResource) + " " + quoted(name);
  }

  template <class Rec>
  static Result<Rec> read_desired(const Row& row) {
    const auto& c = Desired<Rec>::columns();
    Rec r;
    r.name = row.text(0);
    if (auto s = read(c, row, 1, r); !s.ok()) return prefixed(label<Rec>(r.name), s.error());
    r.version = row.i64(c.size() + 1);
    r.updated_at = sql::iso8601_utc(row.i64(c.size() + 2));
    return r;
  }

  template <class Rec>
  static Status validate_desired(const Rec& r) {
    if (auto s = check_name(Desired<Rec>::kResource, "name", r.name); !s.ok()) return s;
    if (auto s = Desired<Rec>::validate(r); !s.ok()) return prefixed(label<Rec>(r.name), s.error());
    return {};
  }

  // The stored version of `name` is `expected` (any, when none): else not_found / version_conflict.
  template <class Rec>
  Status expect_version(const std::string& name, std::optional<int64_t> expected) {
    auto r = conn_->exec(DesiredSql<Rec>::get().version_of, {name});
    if (!r.ok()) return r.error();
    if (r->rows.empty()) return make_error("store.not_found", label<Rec>(name) + " does not exist");
    const int64_t stored = r->rows[0].i64(0);
    if (expected && *expected != stored) {
      return make_error("store.version_conflict",
                        label<Rec>(name) + ": field 'version' is " + std::to_string(*expected) +
                            " but the stored version is " + std::to_string(stored));
    }
    return {};
  }

  Status check_references(const PipelineRecord& p) {
    const std::pair<const char*, const std::string*> refs[] = {{"stream", &p.stream},
                                                               {"model", &p.model}};
    for (const auto& [kind, name] : refs) {
      auto r = conn_->exec(std::string("SELECT 1 FROM ") + kind + "s WHERE name = ?", {*name});
      if (!r.ok()) return r.error();
      if (r->rows.empty()) {
        return make_error("store.missing_reference", label<PipelineRecord>(p.name) + ": field '" +
                                                         kind + "' names " + kind + " " +
                                                         quoted(*name) + ", which does not exist");
      }
    }
    return {};
  }

  // In the transaction of a desired change: the revision grows (and PostgreSQL notifies).
  Status bump_revision() {
    auto r = conn_->exec(
        "UPDATE desired_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision", {});
    if (!r.ok()) return r.error();
    if (r->rows.empty()) return make_error("store.io", "table desired_revision has no row");
    if (conn_->dialect().notifies) {
      auto n = conn_->exec("SELECT pg_notify('orion_desired', ?)", {r->rows[0].text(0)});
      if (!n.ok()) return n.error();
      // Engines' lease keepers wait on orion_leases: a new stream is there to place.
      auto l = conn_->exec("SELECT pg_notify('orion_leases', 'desired')", {});
      if (!l.ok()) return l.error();
    }
    return {};
  }

  // After a desired change committed: wakes local waiters at once.
  void changed() {
    {
      std::lock_guard lock(change_mu_);
      ++local_changes_;
    }
    change_cv_.notify_all();
  }

  template <class Rec>
  Result<std::vector<Rec>> list_desired() {
    return transact(false, std::string("list ") + Desired<Rec>::kTable,
                    [&]() -> Result<std::vector<Rec>> {
                      auto rows = conn_->exec(DesiredSql<Rec>::get().select_all, {});
                      if (!rows.ok()) return rows.error();
                      std::vector<Rec> out;
                      out.reserve(rows->rows.size());
                      for (const auto& row : rows->rows) {
                        auto r = read_desired<Rec>(row);
                        if (!r.ok()) return r.error();
                        out.push_back(std::move(*r));
                      }
                      return out;
                    });
  }

  template <class Rec>
  Result<Rec> get_desired(const std::string& name) {
    return transact(false, "get " + label<Rec>(name), [&]() -> Result<Rec> {
      auto rows = conn_->exec(DesiredSql<Rec>::get().select_one, {name});
      if (!rows.ok()) return rows.error();
      if (rows->rows.empty())
        return make_error("store.not_found", label<Rec>(name) + " does not exist");
      return read_desired<Rec>(rows->rows[0]);
    });
  }

  template <class Rec>
  Result<Rec> create_desired(const Rec& in) {
    if (auto s = validate_desired(in); !s.ok()) return s.error();
    const int64_t now = sql::unix_now_ms();
    Params params{in.name};
    if (auto s = bind(Desired<Rec>::columns(), in, params); !s.ok())
      return prefixed(label<Rec>(in.name), s.error());
    params.emplace_back(now);
    auto out = transact(true, "create " + label<Rec>(in.name), [&]() -> Result<Rec> {
      if constexpr (std::is_same_v<Rec, PipelineRecord>) {
        if (auto s = check_references(in); !s.ok()) return s.error();
      }
      auto r = conn_->exec(DesiredSql<Rec>::get().insert, params);
      if (!r.ok()) {
        if (r.error().code == sql::kUnique) {
          return make_error("store.exists", label<Rec>(in.name) + " already exists (field 'name')");
        }
        if (r.error().code == sql::kForeignKey) {
          return make_error("store.missing_reference",
                            label<Rec>(in.name) +
                                ": field 'stream' or 'model' names a resource that "
                                "does not exist");
        }
        return r.error();
      }
      if (auto s = bump_revision(); !s.ok()) return s.error();
      Rec rec = in;
      rec.version = 1;
      rec.updated_at = sql::iso8601_utc(now);
      return rec;
    });
    if (out.ok()) changed();
    return out;
  }

  template <class Rec>
  Result<Rec> update_desired(const Rec& in, int64_t expected) {
    if (auto s = validate_desired(in); !s.ok()) return s.error();
    const int64_t now = sql::unix_now_ms();
    Params params;
    if (auto s = bind(Desired<Rec>::columns(), in, params); !s.ok())
      return prefixed(label<Rec>(in.name), s.error());
    params.emplace_back(now);
    params.emplace_back(in.name);
    params.emplace_back(expected);
    auto out = transact(true, "update " + label<Rec>(in.name), [&]() -> Result<Rec> {
      if (auto s = expect_version<Rec>(in.name, expected); !s.ok()) return s.error();
      if constexpr (std::is_same_v<Rec, PipelineRecord>) {
        if (auto s = check_references(in); !s.ok()) return s.error();
      }
      auto r = conn_->exec(DesiredSql<Rec>::get().update, params);
      if (!r.ok()) {
        if (r.error().code == sql::kForeignKey) {
          return make_error("store.missing_reference",
                            label<Rec>(in.name) +
                                ": field 'stream' or 'model' names a resource that "
                                "does not exist");
        }
        return r.error();
      }
      if (r->rows.empty()) {  // changed between the check and the update (PostgreSQL)
        if (auto s = expect_version<Rec>(in.name, expected); !s.ok()) return s.error();
        return make_error("store.version_conflict",
                          label<Rec>(in.name) + ": field 'version' is stale");
      }
      if (auto s = bump_revision(); !s.ok()) return s.error();
      Rec rec = in;
      rec.version = r->rows[0].i64(0);
      rec.updated_at = sql::iso8601_utc(now);
      return rec;
    });
    if (out.ok()) changed();
    return out;
  }

  template <class Rec>
  Status delete_desired(const std::string& name, std::optional<int64_t> expected) {
    const auto& q = DesiredSql<Rec>::get();
    auto out = transact(true, "delete " + label<Rec>(name), [&]() -> Status {
      if (auto s = expect_version<Rec>(name, expected); !s.ok()) return s;
      if (!q.used_by.empty()) {
        auto users = conn_->exec(q.used_by, {name});
        if (!users.ok()) return users.error();
        if (!users->rows.empty()) {
          std::string names;
          for (const auto& row : users->rows)
            names += (names.empty() ? "" : ", ") + quoted(row.text(0));
          return make_error("store.in_use", label<Rec>(name) + " is used by pipeline " + names);
        }
      }
      Params params{name};
      if (expected) params.emplace_back(*expected);
      auto r = conn_->exec(expected ? q.remove_versioned : q.remove, params);
      if (!r.ok()) {
        if (r.error().code == sql::kForeignKey) {
          return make_error("store.in_use", label<Rec>(name) + " is used by a pipeline");
        }
        return r.error();
      }
      if (r->affected == 0) {
        if (auto s = expect_version<Rec>(name, expected); !s.ok()) return s;
        return make_error("store.version_conflict",
                          label<Rec>(name) + ": field 'version' is stale");
      }
      return bump_revision();
    });
    if (out.ok()) changed();
    return out;
  }

  template <class Rec>
  Result<std::vector<Rec>> list_actual() {
    using T = Actual<Rec>;
    return transact(false, std::string("list ") + T::kTable, [&]() -> Result<std::vector<Rec>> {
      auto rows = conn_->exec(ActualSql<Rec>::get().select_all, {});
      if (!rows.ok()) return rows.error();
      const auto& c = T::columns();
      const auto stamps = T::stamps();
      std::vector<Rec> out;
      out.reserve(rows->rows.size());
      for (const auto& row : rows->rows) {
        Rec r;
        if (auto s = read(c, row, 0, r); !s.ok()) {
          return prefixed(std::string(T::kResource) + " " + quoted(row.text(0)), s.error());
        }
        for (size_t k = 0; k < stamps.size(); ++k)
          r.*(stamps[k].member) = sql::iso8601_utc(row.i64(c.size() + k));
        out.push_back(std::move(r));
      }
      return out;
    });
  }

  template <class Rec>
  Status put_actual(const Rec& rec) {
    using T = Actual<Rec>;
    const std::string what = std::string(T::kResource) + " " + quoted(T::key(rec));
    if (auto s = check_name(T::kResource, T::columns().front().name, T::key(rec)); !s.ok())
      return s;
    if constexpr (std::is_same_v<Rec, EngineRecord>) {
      if (auto s = T::validate(rec); !s.ok()) return prefixed(what, s.error());
    }
    Params params;
    if (auto s = bind(T::columns(), rec, params); !s.ok()) return prefixed(what, s.error());
    const int64_t now = sql::unix_now_ms();
    for (size_t k = 0; k < T::stamps().size(); ++k) params.emplace_back(now);
    return transact(true, "put " + what, [&]() -> Status {
      auto r = conn_->exec(ActualSql<Rec>::get().upsert, params);
      if (!r.ok()) {
        if (r.error().code == sql::kForeignKey && T::kParent != nullptr) {
          return make_error("store.missing_reference",
                            what + ": field '" + T::columns().front().name + "' names " +
                                T::kParent + " " + quoted(T::key(rec)) + ", which does not exist");
        }
        return r.error();
      }
      return {};
    });
  }

  std::string now_sql() const { return std::string(now_ms_sql(conn_->dialect())); }
  Result<std::vector<LeaseRecord>> read_leases();  // in a transaction
  Result<std::vector<EngineLoad>> read_engine_loads(const std::vector<LeaseRecord>& leases);

  std::mutex lease_listen_mu_;  // guards lease_listener_ (a leaf; never held with mu_)
  std::unique_ptr<sql::Listener> lease_listener_;
  bool lease_listener_tried_ = false;
  int64_t lease_seen_revision_ = -1;  // SQLite polling; guarded by lease_listen_mu_

  std::mutex listen_mu_;  // guards listener_; lock order: listen_mu_, then mu_
  std::unique_ptr<sql::Listener> listener_;
  bool listener_tried_ = false;  // guarded by listen_mu_

  std::mutex mu_;  // guards conn_: one transaction at a time
  std::unique_ptr<sql::Connection> conn_;
  const std::string url_;

  std::mutex change_mu_;  // guards local_changes_
  std::condition_variable change_cv_;
  uint64_t local_changes_ = 0;  // desired changes committed through this Store
};

Result<int64_t> SqlStore::wait_desired_revision(int64_t known, Duration limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit.to_chrono();
  std::unique_lock listen_lock(listen_mu_, std::try_to_lock);
  if (listen_lock.owns_lock() && !listener_tried_) {
    // LISTEN before the first read of the revision, so no change after it is missed.
    auto l = sql::listen(url_);
    if (!l.ok()) return l.error();
    listener_ = std::move(*l);
    listener_tried_ = true;
  }
  sql::Listener* listener = listen_lock.owns_lock() ? listener_.get() : nullptr;
  for (;;) {
    uint64_t seen_changes = 0;
    {
      std::lock_guard lock(change_mu_);
      seen_changes = local_changes_;
    }
    auto rev = desired_revision();
    if (!rev.ok() || *rev != known) return rev;
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return known;
    if (listener != nullptr) {
      auto woke = listener->wait(std::min(Duration::from(left), kListenSlice));
      if (!woke.ok()) return woke.error();
    } else {
      std::unique_lock lock(change_mu_);
      change_cv_.wait_for(lock, std::min<std::chrono::nanoseconds>(left, kPollInterval.to_chrono()),
                          [&] { return local_changes_ != seen_changes; });
    }
  }
}

Result<std::vector<LeaseRecord>> SqlStore::read_leases() {
  auto rows = conn_->exec("SELECT stream, engine_id, epoch, expires_at_ms - " + now_sql() +
                              " FROM stream_leases ORDER BY stream",
                          {});
  if (!rows.ok()) return rows.error();
  std::vector<LeaseRecord> out;
  for (const auto& row : rows->rows)
    out.push_back({row.text(0), row.text(1), row.i64(2), row.i64(3)});
  return out;
}

Result<std::vector<EngineLoad>> SqlStore::read_engine_loads(
    const std::vector<LeaseRecord>& leases) {
  auto rows = conn_->exec(
      "SELECT id, max_streams, state, lease_until_ms - " + now_sql() + " FROM engines ORDER BY id",
      {});
  if (!rows.ok()) return rows.error();
  std::vector<EngineLoad> out;
  for (const auto& row : rows->rows) {
    EngineLoad e{row.text(0), static_cast<int>(row.i64(1)), row.text(2), 0, row.i64(3) > 0};
    for (const auto& l : leases)
      if (l.engine_id == e.id && l.expires_in_ms > 0) ++e.held;
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<EngineLoad>> SqlStore::list_engine_loads() {
  return transact(false, "list engine loads", [&]() -> Result<std::vector<EngineLoad>> {
    auto leases = read_leases();
    if (!leases.ok()) return leases.error();
    return read_engine_loads(*leases);
  });
}

Result<std::vector<LeaseRecord>> SqlStore::list_leases() {
  return transact(false, "list stream_leases", [&] { return read_leases(); });
}

Result<LeaseRoundResult> SqlStore::lease_round(const LeaseRound& in) {
  const std::string& me = in.engine.id;
  if (auto s = check_name("engine", "id", me); !s.ok()) return s.error();
  if (auto s = Actual<EngineRecord>::validate(in.engine); !s.ok())
    return prefixed("engine " + quoted(me), s.error());
  const int64_t lease_ms = in.lease.count_nanos() / 1'000'000;
  if (lease_ms <= 0) return make_error("store.invalid", "lease round: field 'lease' is not > 0");
  Params heartbeat;
  if (auto s = bind(Actual<EngineRecord>::columns(), in.engine, heartbeat); !s.ok())
    return prefixed("engine " + quoted(me), s.error());
  const int64_t wall = sql::unix_now_ms();
  heartbeat.emplace_back(wall);
  heartbeat.emplace_back(wall);
  const bool pg = conn_->dialect().name == "postgresql";
  const std::string now = now_sql();
  bool changed_any = false;
  auto out =
      transact(true, "lease round of engine " + quoted(me), [&]() -> Result<LeaseRoundResult> {
        LeaseRoundResult res;
        changed_any = false;
        if (auto r = conn_->exec(ActualSql<EngineRecord>::get().upsert, heartbeat); !r.ok())
          return r.error();
        if (auto r = conn_->exec(
                "UPDATE engines SET lease_until_ms = " + now + " + CAST(? AS BIGINT) WHERE id = ?",
                {lease_ms, me});
            !r.ok())
          return r.error();
        for (const auto& [stream, epoch] : in.release) {
          auto r = conn_->exec(
              "UPDATE stream_leases SET engine_id = '', expires_at_ms = 0 WHERE stream = ? AND "
              "engine_id = ? AND epoch = ?",
              {stream, me, epoch});
          if (!r.ok()) return r.error();
          changed_any = changed_any || r->affected > 0;
        }
        for (const auto& [stream, epoch] : in.renew) {
          auto r = conn_->exec("UPDATE stream_leases SET expires_at_ms = " + now +
                                   " + CAST(? AS BIGINT) WHERE stream = ? AND engine_id = ? AND "
                                   "epoch = ?",
                               {lease_ms, stream, me, epoch});
          if (!r.ok()) return r.error();
          if (r->affected > 0)
            res.held[stream] = epoch;
          else
            res.lost.push_back(stream);
        }
        // Every stream has a lease row (epoch 0 until first claimed).
        if (auto r = conn_->exec("INSERT INTO stream_leases (stream, engine_id, epoch, "
                                 "expires_at_ms) SELECT name, '', "
                                 "0, 0 FROM streams WHERE NOT EXISTS (SELECT 1 FROM stream_leases "
                                 "l WHERE l.stream = "
                                 "streams.name) ORDER BY name ON CONFLICT (stream) DO NOTHING",
                                 {});
            !r.ok())
          return r.error();
        LeaseView& v = res.view;
        if (pg) {
          auto up = conn_->exec(
              "SELECT CAST(EXTRACT(EPOCH FROM (clock_timestamp() - pg_postmaster_start_time())) * "
              "1000 AS BIGINT)",
              {});
          if (!up.ok()) return up.error();
          v.server_up_ms = up->rows.at(0).i64(0);
        } else {
          v.server_up_ms = std::numeric_limits<int64_t>::max() / 4;  // no server to restart
        }
        v.expired_claims_allowed = v.server_up_ms >= lease_ms;
        auto leases = read_leases();
        if (!leases.ok()) return leases.error();
        v.leases = std::move(*leases);
        auto engines = read_engine_loads(v.leases);
        if (!engines.ok()) return engines.error();
        v.engines = std::move(*engines);
        auto cand = conn_->exec(
            "SELECT stream, engine_id, epoch, expires_at_ms - " + now +
                " FROM stream_leases WHERE engine_id = '' OR engine_id = ? OR (expires_at_ms <= " +
                now + " AND ?) ORDER BY stream" + (pg ? " FOR UPDATE SKIP LOCKED" : ""),
            {me, v.expired_claims_allowed});
        if (!cand.ok()) return cand.error();
        for (const auto& row : cand->rows) {
          LeaseRecord l{row.text(0), row.text(1), row.i64(2), row.i64(3)};
          if (res.held.count(l.stream) || in.release.count(l.stream)) continue;
          v.claimable.push_back(std::move(l));
        }
        if (!in.plan) return res;
        const std::vector<std::string> picks = in.plan(v);
        for (const auto& stream : picks) {
          auto it = std::find_if(v.claimable.begin(), v.claimable.end(),
                                 [&](const LeaseRecord& l) { return l.stream == stream; });
          if (it == v.claimable.end()) continue;  // not locked for us: never claimed blind
          auto r = conn_->exec(
              "UPDATE stream_leases SET engine_id = ?, epoch = epoch + 1, "
              "expires_at_ms = " +
                  now +
                  " + CAST(? AS BIGINT) WHERE stream = ? AND epoch = ? RETURNING "
                  "epoch",
              {me, lease_ms, stream, it->epoch});
          if (!r.ok()) return r.error();
          if (r->rows.empty()) continue;
          res.held[stream] = r->rows[0].i64(0);
          changed_any = true;
        }
        if (pg && changed_any) {
          auto n = conn_->exec("SELECT pg_notify('orion_leases', ?)", {me});
          if (!n.ok()) return n.error();
        }
        return res;
      });
  return out;
}

Result<bool> SqlStore::wait_lease_change(Duration limit) {
  std::unique_lock lock(lease_listen_mu_);
  if (!lease_listener_tried_) {
    auto l = sql::listen(url_, "orion_leases");
    if (!l.ok()) return l.error();
    lease_listener_ = std::move(*l);
    lease_listener_tried_ = true;
  }
  if (lease_listener_) return lease_listener_->wait(limit);
  // SQLite: no notifications between processes; a change of the desired revision (a stream
  // added by the API) is polled every 100 ms.
  const auto end = std::chrono::steady_clock::now() + limit.to_chrono();
  for (;;) {
    auto rev = desired_revision();
    if (!rev.ok()) return rev.error();
    if (lease_seen_revision_ >= 0 && *rev != lease_seen_revision_) {
      lease_seen_revision_ = *rev;
      return true;
    }
    lease_seen_revision_ = *rev;
    const auto left = end - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return false;
    std::unique_lock change(change_mu_);
    const uint64_t seen = local_changes_;
    change_cv_.wait_for(change, std::min<std::chrono::nanoseconds>(left, kPollInterval.to_chrono()),
                        [&] { return local_changes_ != seen; });
  }
}

// Rows go in multi-row INSERTs of 128, 64, ..., 1 rows (at most 8 statement texts, each prepared
// once): one round trip per chunk instead of one per event. Both engines number the rows of one
// INSERT in VALUES order, so the chunk's ids, sorted, are its events' ids in batch order.
Result<std::vector<int64_t>> SqlStore::insert_events(const std::vector<EventRecord>& batch) {
  constexpr size_t kMaxChunkLog2 = 7;  // 128 rows x 13 columns: within both engines' limits
  std::vector<int64_t> ids;
  if (batch.empty()) return ids;
  const size_t width = event_columns().size();
  Params all;
  all.reserve(batch.size() * width);
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& e = batch[i];
    const std::string what = "event " + std::to_string(i) + " of the batch";
    if (auto s = check_name(what.c_str(), "stream", e.stream); !s.ok()) return s.error();
    if (auto s = check_name(what.c_str(), "pipeline", e.pipeline); !s.ok()) return s.error();
    if (auto s = bind(event_columns(), e, all); !s.ok()) return prefixed(what, s.error());
  }
  static const std::vector<std::string> inserts = [&] {
    std::vector<std::string> v;
    std::string values = "(" + marks(width) + ")";
    for (size_t k = 0; k <= kMaxChunkLog2; ++k) {
      const size_t n = size_t{1} << k;
      std::string sql = "INSERT INTO events (" + join(event_columns(), "%") + ") VALUES ";
      for (size_t r = 0; r < n; ++r) sql += (r == 0 ? "" : ", ") + values;
      v.push_back(sql + " RETURNING id");
    }
    return v;
  }();
  return transact(true, "insert " + std::to_string(batch.size()) + " events",
                  [&]() -> Result<std::vector<int64_t>> {
                    ids.clear();
                    ids.reserve(batch.size());
                    size_t done = 0;
                    while (done < batch.size()) {
                      size_t k = kMaxChunkLog2;
                      while ((size_t{1} << k) > batch.size() - done) --k;
                      const size_t n = size_t{1} << k;
                      const Params chunk(all.begin() + static_cast<ptrdiff_t>(done * width),
                                         all.begin() + static_cast<ptrdiff_t>((done + n) * width));
                      auto r = conn_->exec(inserts[k], chunk);
                      if (!r.ok()) return r.error();
                      if (r->rows.size() != n) {
                        return make_error("store.io", "INSERT of " + std::to_string(n) +
                                                          " events returned " +
                                                          std::to_string(r->rows.size()) + " ids");
                      }
                      const size_t first = ids.size();
                      for (const auto& row : r->rows) ids.push_back(row.i64(0));
                      std::sort(ids.begin() + static_cast<ptrdiff_t>(first), ids.end());
                      done += n;
                    }
                    return ids;
                  });
}

Result<std::vector<EventRecord>> SqlStore::query_events(const EventQuery& q) {
  if (q.limit < 1 || q.limit > kMaxEventLimit) {
    return make_error("store.invalid", "event query: field 'limit' is " + std::to_string(q.limit) +
                                           ", not in 1.." + std::to_string(kMaxEventLimit));
  }
  std::string sql = "SELECT id, " + join(event_columns(), "%") + " FROM events WHERE id > ?";
  Params params{q.after_id};
  if (!q.stream.empty()) {
    sql += " AND stream = ?";
    params.emplace_back(q.stream);
  }
  if (!q.pipeline.empty()) {
    sql += " AND pipeline = ?";
    params.emplace_back(q.pipeline);
  }
  if (q.since_ms != 0) {
    sql += " AND wall_time_ms >= ?";
    params.emplace_back(q.since_ms);
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(int64_t{q.limit});
  for (const auto& p : params) {
    if (const auto* s = std::get_if<std::string>(&p); s != nullptr && !sql::is_storable_text(*s)) {
      return make_error("store.invalid",
                        "event query: a filter is not UTF-8 text without NUL bytes");
    }
  }
  return transact(false, "query events", [&]() -> Result<std::vector<EventRecord>> {
    auto rows = conn_->exec(sql, params);
    if (!rows.ok()) return rows.error();
    std::vector<EventRecord> out;
    out.reserve(rows->rows.size());
    for (const auto& row : rows->rows) {
      EventRecord e;
      e.id = row.i64(0);
      if (auto s = read(event_columns(), row, 1, e); !s.ok()) return s.error();
      out.push_back(std::move(e));
    }
    return out;
  });
}

Result<int64_t> SqlStore::apply_retention(const Retention& r, int64_t now_ms) {
  if (r.max_age_ms < 0)
    return make_error("store.invalid", "retention: field 'max_age_ms' is negative");
  if (r.max_rows < 0) return make_error("store.invalid", "retention: field 'max_rows' is negative");
  const int64_t oldest_kept = now_ms < std::numeric_limits<int64_t>::min() + r.max_age_ms
                                  ? std::numeric_limits<int64_t>::min()
                                  : now_ms - r.max_age_ms;
  return transact(true, "apply event retention", [&]() -> Result<int64_t> {
    int64_t deleted = 0;
    if (r.max_age_ms > 0) {
      auto d = conn_->exec("DELETE FROM events WHERE wall_time_ms < ?", {oldest_kept});
      if (!d.ok()) return d.error();
      deleted += d->affected;
    }
    if (r.max_rows > 0) {
      // The (max_rows+1)-th newest id and every older one; none when there are fewer rows.
      auto d = conn_->exec(
          "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET "
          "?)",
          {r.max_rows});
      if (!d.ok()) return d.error();
      deleted += d->affected;
    }
    return deleted;
  });
}

}  // namespace

std::unique_ptr<Store> make_sql_store(std::unique_ptr<sql::Connection> conn, std::string url) {
  return std::make_unique<SqlStore>(std::move(conn), std::move(url));
}

Result<std::unique_ptr<Store>> Store::open(const std::string& url) {
  auto conn = sql::connect(url);
  if (!conn.ok()) return conn.error();
  if (auto s = migrate(**conn); !s.ok()) return s.error();
  return make_sql_store(std::move(*conn), url);
}

}  // namespace orion::store
