// sql::Connection on libsqlite3: one database handle, prepared statements cached by text.
#include <sqlite3.h>

#include <unordered_map>

#include "store/backends.h"

namespace orion::store::sql {
namespace {

constexpr int kBusyTimeoutMs = 5000;

const Dialect kSqlite{
    .name = "sqlite",
    .id_column = "INTEGER PRIMARY KEY AUTOINCREMENT",  // AUTOINCREMENT: ids never reused
    .migration_lock = "",                              // BEGIN IMMEDIATE already serialises writers
    .notifies = false,
};

std::string classify(int extended_code) {
  switch (extended_code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return kUnique;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return kForeignKey;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
      return kCheck;
    default:
      break;
  }
  switch (extended_code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return kBusy;
    default:
      return kOther;
  }
}

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(sqlite3* db, std::string url) : db_(db), url_(std::move(url)) {}
  ~SqliteConnection() override {
    for (auto& [text, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  const Dialect& dialect() const override { return kSqlite; }

  Status begin(bool write) override { return exec_ddl(write ? "BEGIN IMMEDIATE" : "BEGIN"); }
  Status commit() override { return exec_ddl("COMMIT"); }
  void rollback() override {
    if (sqlite3_get_autocommit(db_) == 0) (void)exec_ddl("ROLLBACK");
  }

  Result<Rows> exec(const std::string& sql, const Params& params) override {
    auto stmt_r = prepare(sql);
    if (!stmt_r.ok()) return stmt_r.error();
    sqlite3_stmt* stmt = *stmt_r;
    // Reset on every way out, so the statement never keeps a read transaction open.
    struct Reset {
      sqlite3_stmt* s;
      ~Reset() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } reset{stmt};

    if (static_cast<size_t>(sqlite3_bind_parameter_count(stmt)) != params.size()) {
      return make_error(kOther,
                        "statement takes " + std::to_string(sqlite3_bind_parameter_count(stmt)) +
                            " parameters, given " + std::to_string(params.size()) + ": " + sql);
    }
    for (size_t i = 0; i < params.size(); ++i) {
      const int idx = static_cast<int>(i) + 1;
      int rc = SQLITE_OK;
      if (const auto* v = std::get_if<int64_t>(&params[i])) {
        rc = sqlite3_bind_int64(stmt, idx, *v);
      } else if (const auto* d = std::get_if<double>(&params[i])) {
        rc = sqlite3_bind_double(stmt, idx, *d);
      } else if (const auto* s = std::get_if<std::string>(&params[i])) {
        // SQLITE_STATIC: `params` outlives the statement's use (reset before return).
        rc = sqlite3_bind_text(stmt, idx, s->data(), static_cast<int>(s->size()), SQLITE_STATIC);
      } else {
        rc = sqlite3_bind_int(stmt, idx, std::get<bool>(params[i]) ? 1 : 0);
      }
      if (rc != SQLITE_OK) return failure(rc, "binding parameter " + std::to_string(idx));
    }

    Rows out;
    const int columns = sqlite3_column_count(stmt);
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return failure(rc, sql);
      std::vector<Cell> cells;
      cells.reserve(static_cast<size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_INTEGER:
            cells.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
            break;
          case SQLITE_FLOAT:
            cells.emplace_back(sqlite3_column_double(stmt, c));
            break;
          case SQLITE_NULL:
            cells.emplace_back(std::monostate{});
            break;
          default: {
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
            const int n = sqlite3_column_bytes(stmt, c);
            cells.emplace_back(std::string(p != nullptr ? p : "", static_cast<size_t>(n)));
          }
        }
      }
      out.rows.emplace_back(std::move(cells));
    }
    out.affected = sqlite3_changes64(db_);
    return out;
  }

  Status exec_ddl(const std::string& sql) override {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      return make_error(classify(sqlite3_extended_errcode(db_)),
                        "sqlite " + url_ + ": " + msg + " (in: " + sql + ")");
    }
    return {};
  }

 private:
  Result<sqlite3_stmt*> prepare(const std::string& sql) {
    if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return failure(rc, "preparing " + sql);
    statements_.emplace(sql, stmt);
    return stmt;
  }

  Error failure(int rc, const std::string& what) const {
    const int ext = sqlite3_extended_errcode(db_);
    return make_error(classify(ext != 0 ? ext : rc),
                      "sqlite " + url_ + ": " + sqlite3_errmsg(db_) + " (" + what + ")");
  }

  sqlite3* db_;
  std::string url_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace

Result<std::unique_ptr<Connection>> open_sqlite(const std::string& path, const std::string& url) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return make_error("store.open",
                      "cannot open SQLite database '" + path + "' (" + url + "): " + msg);
  }
  sqlite3_extended_result_codes(db, 1);
  auto conn = std::make_unique<SqliteConnection>(db, url);
  if (sqlite3_busy_timeout(db, kBusyTimeoutMs) != SQLITE_OK) {
    return make_error("store.open", "cannot set busy_timeout on '" + path + "'");
  }
  // journal_mode answers the mode it ended in; an in-memory database stays "memory".
  auto mode = conn->exec("PRAGMA journal_mode=WAL", {});
  if (!mode.ok()) {
    return make_error("store.open", "SQLite database '" + path + "': " + mode.error().message);
  }
  const std::string got = mode->rows.empty() ? "" : mode->rows[0].text(0);
  if (got != "wal" && path != ":memory:") {
    return make_error("store.open", "SQLite database '" + path +
                                        "' cannot use write-ahead logging (journal_mode is '" +
                                        got + "')");
  }
  for (const char* pragma : {"PRAGMA foreign_keys=ON", "PRAGMA synchronous=FULL"}) {
    if (auto s = conn->exec_ddl(pragma); !s.ok()) {
      return make_error("store.open", "SQLite database '" + path + "': " + s.error().message);
    }
  }
  auto fk = conn->exec("PRAGMA foreign_keys", {});
  if (!fk.ok() || fk->rows.empty() || fk->rows[0].i64(0) != 1) {
    return make_error("store.open",
                      "SQLite database '" + path + "': foreign keys cannot be enabled");
  }
  return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace orion::store::sql
