#include "store/migrations.h"

#include <string>

namespace orion::store {
namespace {

// Migration 1: the whole first schema. Times are Unix milliseconds (BIGINT); lists and maps are
// JSON text; booleans are BOOLEAN (SQLite stores 0/1).
const Migration kInitial{
    1,
    "initial schema: desired state, actual state, engines, events",
    {
        R"(CREATE TABLE streams (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  enabled BOOLEAN NOT NULL,
  looped BOOLEAN NOT NULL,
  tls_verify BOOLEAN NOT NULL,
  version BIGINT NOT NULL CHECK (version >= 1),
  updated_at_ms BIGINT NOT NULL))",
        R"(CREATE TABLE models (
  name TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  input_width INTEGER NOT NULL CHECK (input_width >= 0),
  input_height INTEGER NOT NULL CHECK (input_height >= 0),
  class_names TEXT NOT NULL,
  version BIGINT NOT NULL CHECK (version >= 1),
  updated_at_ms BIGINT NOT NULL))",
        R"(CREATE TABLE pipelines (
  name TEXT PRIMARY KEY,
  stream TEXT NOT NULL REFERENCES streams (name) ON DELETE RESTRICT,
  model TEXT NOT NULL REFERENCES models (name) ON DELETE RESTRICT,
  sla TEXT NOT NULL CHECK (sla IN ('critical', 'best_effort')),
  min_score DOUBLE PRECISION NOT NULL,
  iou DOUBLE PRECISION NOT NULL,
  classes TEXT NOT NULL,
  enabled BOOLEAN NOT NULL,
  motion_gate TEXT NOT NULL,
  worker_command TEXT NOT NULL,
  events_enabled BOOLEAN NOT NULL,
  events_classes TEXT NOT NULL,
  events_min_score DOUBLE PRECISION NOT NULL,
  events_min_interval_ms BIGINT NOT NULL CHECK (events_min_interval_ms >= 0),
  version BIGINT NOT NULL CHECK (version >= 1),
  updated_at_ms BIGINT NOT NULL))",
        "CREATE INDEX pipelines_by_stream ON pipelines (stream)",
        "CREATE INDEX pipelines_by_model ON pipelines (model)",
        R"(CREATE TABLE desired_revision (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  revision BIGINT NOT NULL))",
        "INSERT INTO desired_revision (id, revision) VALUES (1, 0)",
        R"(CREATE TABLE engines (
  id TEXT PRIMARY KEY,
  media_url TEXT NOT NULL,
  rtsp_url TEXT NOT NULL,
  max_streams INTEGER NOT NULL CHECK (max_streams >= 0),
  started_at_ms BIGINT NOT NULL,
  heartbeat_at_ms BIGINT NOT NULL))",
        R"(CREATE TABLE stream_status (
  stream TEXT PRIMARY KEY REFERENCES streams (name) ON DELETE CASCADE,
  engine_id TEXT NOT NULL,
  state TEXT NOT NULL,
  last_error TEXT NOT NULL,
  fps_in DOUBLE PRECISION NOT NULL,
  fps_out DOUBLE PRECISION NOT NULL,
  frames_in BIGINT NOT NULL,
  frames_out BIGINT NOT NULL,
  reconnects BIGINT NOT NULL,
  output_url TEXT NOT NULL,
  updated_at_ms BIGINT NOT NULL))",
        R"(CREATE TABLE pipeline_status (
  pipeline TEXT PRIMARY KEY REFERENCES pipelines (name) ON DELETE CASCADE,
  engine_id TEXT NOT NULL,
  state TEXT NOT NULL,
  last_error TEXT NOT NULL,
  pid INTEGER NOT NULL,
  restarts BIGINT NOT NULL,
  restart_reasons TEXT NOT NULL,
  violations TEXT NOT NULL,
  offered BIGINT NOT NULL,
  taken BIGINT NOT NULL,
  dropped BIGINT NOT NULL,
  results BIGINT NOT NULL,
  last_result_age_s DOUBLE PRECISION NOT NULL,
  updated_at_ms BIGINT NOT NULL))",
        R"(CREATE TABLE events (
  id {{ID}},
  stream TEXT NOT NULL,
  pipeline TEXT NOT NULL,
  sequence BIGINT NOT NULL,
  pts_ns BIGINT NOT NULL,
  capture_ns BIGINT NOT NULL,
  wall_time_ms BIGINT NOT NULL,
  class_id INTEGER NOT NULL,
  class_name TEXT NOT NULL,
  score DOUBLE PRECISION NOT NULL,
  x1 DOUBLE PRECISION NOT NULL,
  y1 DOUBLE PRECISION NOT NULL,
  x2 DOUBLE PRECISION NOT NULL,
  y2 DOUBLE PRECISION NOT NULL))",
        "CREATE INDEX events_by_stream ON events (stream, id)",
        "CREATE INDEX events_by_pipeline ON events (pipeline, id)",
        "CREATE INDEX events_by_wall_time ON events (wall_time_ms)",
    },
};

// Migration 2: a model's inference thread count (the YAML `threads`), 0 = the backend's default.
// Rows from before it get 0.
const Migration kModelThreads{
    2,
    "models.threads: inference threads of a model",
    {
        "ALTER TABLE models ADD COLUMN threads INTEGER NOT NULL DEFAULT 0 CHECK (threads >= 0)",
    },
};

// Migration 3: a stream's stall timeout in milliseconds, 0 = the engine's default. Rows from
// before it get 0.
const Migration kStreamStallTimeout{
    3,
    "streams.stall_timeout_ms: per-stream stall detection",
    {
        "ALTER TABLE streams ADD COLUMN stall_timeout_ms BIGINT NOT NULL DEFAULT 0 CHECK "
        "(stall_timeout_ms >= 0)",
    },
};

// Migration 4: per-hop latency figures of the status rows (JSON text), "{}" before it.
const Migration kStatusLatency{
    4,
    "stream_status.latency, pipeline_status.latency: per-frame latency percentiles",
    {
        "ALTER TABLE stream_status ADD COLUMN latency TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE pipeline_status ADD COLUMN latency TEXT NOT NULL DEFAULT '{}'",
    },
};

std::string with_dialect(std::string_view statement, const sql::Dialect& d) {
  std::string s(statement);
  for (size_t p = s.find("{{ID}}"); p != std::string::npos; p = s.find("{{ID}}", p)) {
    s.replace(p, 6, d.id_column);
  }
  return s;
}

Error migration_error(const sql::Connection& conn, const std::string& what) {
  return make_error("store.migration", std::string(conn.dialect().name) + " database: " + what);
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all{kInitial, kModelThreads, kStreamStallTimeout,
                                          kStatusLatency};
  return all;
}

Status migrate(sql::Connection& conn) {
  if (auto s = conn.begin(true); !s.ok()) return migration_error(conn, s.error().message);
  auto fail = [&](const std::string& what) -> Status {
    conn.rollback();
    return migration_error(conn, what);
  };
  if (!conn.dialect().migration_lock.empty()) {
    if (auto r = conn.exec(std::string(conn.dialect().migration_lock), {}); !r.ok()) {
      return fail(r.error().message);
    }
  }
  if (auto s = conn.exec_ddl("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT "
                             "PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
      !s.ok()) {
    return fail(s.error().message);
  }
  auto current_r = conn.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {});
  if (!current_r.ok()) return fail(current_r.error().message);
  const int64_t current = current_r->rows.at(0).i64(0);
  if (current > latest_schema_version()) {
    return fail("schema version " + std::to_string(current) + " is newer than this build knows (" +
                std::to_string(latest_schema_version()) + "): run a newer orion");
  }
  for (const Migration& m : migrations()) {
    if (m.version <= current) continue;
    for (auto statement : m.statements) {
      if (auto s = conn.exec_ddl(with_dialect(statement, conn.dialect())); !s.ok()) {
        return fail("migration " + std::to_string(m.version) + " (" + std::string(m.name) +
                    ") failed: " + s.error().message);
      }
    }
    auto rec =
        conn.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                  {int64_t{m.version}, std::string(m.name), sql::iso8601_utc(sql::unix_now_ms())});
    if (!rec.ok()) return fail(rec.error().message);
  }
  if (auto s = conn.commit(); !s.ok()) return fail(s.error().message);
  return {};
}

}  // namespace orion::store
