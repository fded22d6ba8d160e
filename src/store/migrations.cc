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
    {},
    {},
};

// Migration 2: a model's inference thread count (the YAML `threads`), 0 = the backend's default.
// Rows from before it get 0.
const Migration kModelThreads{
    2,
    "models.threads: inference threads of a model",
    {
        "ALTER TABLE models ADD COLUMN threads INTEGER NOT NULL DEFAULT 0 CHECK (threads >= 0)",
    },
    {},
    {},
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

// Migration 5: scale-out (docs/design/scale_out.md, ADR 0050). A stream belongs to at most one
// engine through its row in stream_leases: owner engine ('' = nobody), a fencing epoch that grows
// at every claim, an expiry in the DATABASE's clock ({{NOW_MS}}). Status rows and events carry
// the epoch they were written under, and triggers refuse (error text "orion_stale_epoch") a row
// for a stream that has been leased (epoch > 0) unless it carries the current epoch of a live
// lease (and, for status rows, the owner's engine id). Streams never leased (single-process
// use, tests that write status by hand) take rows with epoch 0 as before.
// Engines get a state (running | draining) and their own liveness, lease_until_ms, in the
// database's clock like the leases.
const Migration kLeases{
    5,
    "stream leases with fencing epochs; epoch on status rows and events; engine state",
    {
        R"(CREATE TABLE stream_leases (
  stream TEXT PRIMARY KEY REFERENCES streams (name) ON DELETE CASCADE,
  engine_id TEXT NOT NULL,
  epoch BIGINT NOT NULL CHECK (epoch >= 0),
  expires_at_ms BIGINT NOT NULL))",
        "CREATE INDEX stream_leases_by_engine ON stream_leases (engine_id)",
        "ALTER TABLE stream_status ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE pipeline_status ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE events ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE engines ADD COLUMN state TEXT NOT NULL DEFAULT 'running'",
        "ALTER TABLE engines ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0",
    },
    // SQLite: one trigger per table and operation (an upsert fires the INSERT one, then the
    // UPDATE one when the row existed).
    {
        R"(CREATE TRIGGER stream_status_fence_insert BEFORE INSERT ON stream_status
WHEN {{STALE_STREAM_STATUS}}
BEGIN SELECT RAISE(ABORT, 'orion_stale_epoch: stream status write with a stale lease epoch'); END)",
        R"(CREATE TRIGGER stream_status_fence_update BEFORE UPDATE ON stream_status
WHEN {{STALE_STREAM_STATUS}}
BEGIN SELECT RAISE(ABORT, 'orion_stale_epoch: stream status write with a stale lease epoch'); END)",
        R"(CREATE TRIGGER pipeline_status_fence_insert BEFORE INSERT ON pipeline_status
WHEN {{STALE_PIPELINE_STATUS}}
BEGIN SELECT RAISE(ABORT, 'orion_stale_epoch: pipeline status write with a stale lease epoch'); END)",
        R"(CREATE TRIGGER pipeline_status_fence_update BEFORE UPDATE ON pipeline_status
WHEN {{STALE_PIPELINE_STATUS}}
BEGIN SELECT RAISE(ABORT, 'orion_stale_epoch: pipeline status write with a stale lease epoch'); END)",
        R"(CREATE TRIGGER events_fence_insert BEFORE INSERT ON events
WHEN {{STALE_EVENT}}
BEGIN SELECT RAISE(ABORT, 'orion_stale_epoch: event with a stale lease epoch'); END)",
    },
    // PostgreSQL: the lease row is share-locked first, so a claim (UPDATE of that row) and a
    // fenced write are serialised: the write either commits before the claim or sees its epoch.
    {
        R"(CREATE FUNCTION orion_fence_stream_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM stream_leases WHERE stream = NEW.stream FOR SHARE;
  IF {{STALE_STREAM_STATUS}} THEN
    RAISE EXCEPTION 'orion_stale_epoch: stream status of % with epoch % from engine % is not the current lease', NEW.stream, NEW.epoch, NEW.engine_id;
  END IF;
  RETURN NEW;
END $$)",
        R"(CREATE TRIGGER stream_status_fence BEFORE INSERT OR UPDATE ON stream_status
FOR EACH ROW EXECUTE FUNCTION orion_fence_stream_status())",
        R"(CREATE FUNCTION orion_fence_pipeline_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM stream_leases WHERE stream = (SELECT p.stream FROM pipelines p WHERE p.name = NEW.pipeline) FOR SHARE;
  IF {{STALE_PIPELINE_STATUS}} THEN
    RAISE EXCEPTION 'orion_stale_epoch: pipeline status of % with epoch % from engine % is not the current lease', NEW.pipeline, NEW.epoch, NEW.engine_id;
  END IF;
  RETURN NEW;
END $$)",
        R"(CREATE TRIGGER pipeline_status_fence BEFORE INSERT OR UPDATE ON pipeline_status
FOR EACH ROW EXECUTE FUNCTION orion_fence_pipeline_status())",
        R"(CREATE FUNCTION orion_fence_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM stream_leases WHERE stream = NEW.stream FOR SHARE;
  IF {{STALE_EVENT}} THEN
    RAISE EXCEPTION 'orion_stale_epoch: event of % with epoch % is not the current lease', NEW.stream, NEW.epoch;
  END IF;
  RETURN NEW;
END $$)",
        R"(CREATE TRIGGER events_fence BEFORE INSERT ON events
FOR EACH ROW EXECUTE FUNCTION orion_fence_event())",
    },
};

// The database's own clock in Unix milliseconds, per dialect.
std::string_view now_ms_text(const sql::Dialect& d) {
  return d.name == "postgresql" ? "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
                                : "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
}

// "The row NEW is stale": its stream has been leased and NEW is not of the live current lease.
std::string stale_condition(std::string_view stream, std::string_view engine) {
  return "EXISTS (SELECT 1 FROM stream_leases l WHERE l.stream = " + std::string(stream) +
         " AND l.epoch > 0 AND NOT (l.epoch = NEW.epoch AND " + std::string(engine) +
         " AND l.expires_at_ms > {{NOW_MS}}))";
}

void replace_all(std::string& s, std::string_view token, std::string_view with) {
  for (size_t p = s.find(token); p != std::string::npos; p = s.find(token, p + with.size())) {
    s.replace(p, token.size(), with);
  }
}

// Migration 6: where a model's inference runs (ADR 0092): "cpu" or "cuda:N" (core/device.h).
// Rows from before it get their kind's default: cuda:0 for the LibTorch kinds (torch_*), which
// ran there before the field existed, "cpu" for every other kind.
const Migration kModelDevice{
    6,
    "models.device: the inference device of a model",
    {
        "ALTER TABLE models ADD COLUMN device TEXT NOT NULL DEFAULT 'cpu' CHECK (device <> '')",
        "UPDATE models SET device = 'cuda:0' WHERE substr(kind, 1, 6) = 'torch_'",
    },
};

std::string with_dialect(std::string_view statement, const sql::Dialect& d) {
  std::string s(statement);
  replace_all(s, "{{STALE_STREAM_STATUS}}",
              stale_condition("NEW.stream", "l.engine_id = NEW.engine_id"));
  replace_all(s, "{{STALE_PIPELINE_STATUS}}",
              stale_condition("(SELECT p.stream FROM pipelines p WHERE p.name = NEW.pipeline)",
                              "l.engine_id = NEW.engine_id"));
  replace_all(s, "{{STALE_EVENT}}", stale_condition("NEW.stream", "l.engine_id <> ''"));
  replace_all(s, "{{ID}}", d.id_column);
  replace_all(s, "{{NOW_MS}}", now_ms_text(d));
  return s;
}

Error migration_error(const sql::Connection& conn, const std::string& what) {
  return make_error("store.migration", std::string(conn.dialect().name) + " database: " + what);
}

}  // namespace

std::string_view now_ms_sql(const sql::Dialect& d) { return now_ms_text(d); }

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all{kInitial,       kModelThreads, kStreamStallTimeout,
                                          kStatusLatency, kLeases,       kModelDevice};
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
    const bool pg = conn.dialect().name == "postgresql";
    std::vector<std::string_view> statements = m.statements;
    for (auto st : pg ? m.postgres_statements : m.sqlite_statements) statements.push_back(st);
    for (auto statement : statements) {
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
