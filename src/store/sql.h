// Internal to src/store/: the narrow SQL connection both backends implement, so that every query
// and every row↔record mapping is written once (sql_store.cc) and only the driver differs.
//
// SQL given to a Connection is written once for both dialects:
//   - parameters are `?`; the PostgreSQL connection rewrites them to $1, $2, ... (outside quoted
//     literals);
//   - only syntax both engines accept: RETURNING, INSERT ... ON CONFLICT ... DO UPDATE with
//     `excluded.`, LIMIT/OFFSET, subqueries; no arithmetic on parameters (PostgreSQL could not
//     infer their types);
//   - the few DDL words that differ (the auto-increment key) are tokens in the migrations
//     (migrations.h), replaced from Dialect.
// Parameters are typed (Value); PostgreSQL receives them as text, SQLite bound natively. Cells
// come back typed (SQLite) or as text (PostgreSQL); Row's getters convert either way.
//
// Errors: every failure is an Error whose code is one of the sql.* codes below, which SqlStore
// turns into the store.* codes of store.h with a message naming the resource.
//
// Thread-safety: a Connection is thread-compatible (one user at a time; SqlStore holds its lock
// around every call). A Listener likewise, under its own lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace orion::store::sql {

// Error codes a Connection returns.
inline constexpr const char* kUnique = "sql.unique";           // unique / primary key violated
inline constexpr const char* kForeignKey = "sql.foreign_key";  // a reference violated
inline constexpr const char* kCheck = "sql.check";             // CHECK / NOT NULL / bad text
inline constexpr const char* kBusy = "sql.busy";               // locked, deadlock, serialization
inline constexpr const char* kBroken = "sql.broken";           // the connection was lost
inline constexpr const char* kOther = "sql.other";             // anything else

using Value = std::variant<int64_t, double, std::string, bool>;
using Params = std::vector<Value>;

// One result cell: NULL, or a typed value (SQLite) or its text (PostgreSQL).
using Cell = std::variant<std::monostate, int64_t, double, std::string>;

class Row {
 public:
  explicit Row(std::vector<Cell> cells) : cells_(std::move(cells)) {}
  size_t size() const { return cells_.size(); }
  bool is_null(size_t i) const;
  int64_t i64(size_t i) const;   // NULL or unparsable text: 0
  double f64(size_t i) const;    // NULL or unparsable text: 0
  bool boolean(size_t i) const;  // integers: != 0; text: t, true, 1
  std::string text(size_t i) const;

 private:
  std::vector<Cell> cells_;
};

struct Rows {
  std::vector<Row> rows;
  int64_t affected = 0;  // rows changed by an INSERT, UPDATE or DELETE
};

// What differs between the engines besides the driver.
struct Dialect {
  std::string_view name;            // "sqlite" | "postgresql"
  std::string_view id_column;       // DDL of an increasing 64-bit key never reused after delete
  std::string_view migration_lock;  // statement serialising concurrent migrators; "" = none needed
  bool notifies = false;            // NOTIFY orion_desired on every desired-state change
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual const Dialect& dialect() const = 0;
  // A transaction. `write`: SQLite takes the write lock at once (BEGIN IMMEDIATE) so that two
  // processes never deadlock upgrading a read lock; PostgreSQL: plain BEGIN (READ COMMITTED).
  virtual Status begin(bool write) = 0;
  virtual Status commit() = 0;
  virtual void rollback() = 0;  // best effort; never fails the caller
  // One statement with `?` parameters; prepared once per distinct text and reused.
  virtual Result<Rows> exec(const std::string& sql, const Params& params) = 0;
  // One DDL statement, not prepared (PostgreSQL cannot prepare DDL).
  virtual Status exec_ddl(const std::string& sql) = 0;
  // True once the server connection was found lost; the next begin() opens a new one.
  virtual bool lost() const { return false; }
};

// Waits for NOTIFY on one channel, on a connection of its own (PostgreSQL only).
class Listener {
 public:
  virtual ~Listener() = default;
  // Returns true when a notification arrived within `limit` (false: timed out).
  virtual Result<bool> wait(Duration limit) = 0;
};

// Parses the URL and connects. Errors: store.bad_url, store.open (these two are final store.*
// codes: open() passes them through).
Result<std::unique_ptr<Connection>> connect(const std::string& url);
// A Listener for `url` (LISTEN orion_desired), or nullptr where the backend has none (SQLite).
Result<std::unique_ptr<Listener>> listen(const std::string& url);
// The same on another channel (orion_leases: lease releases and claims, desired changes).
Result<std::unique_ptr<Listener>> listen(const std::string& url, const std::string& channel);
// `url` with any password replaced by "***".
std::string redact_url(const std::string& url);

// Wall-clock time (Unix ms) and its ISO 8601 UTC text ("2026-12-01T20:13:09.123Z"): every time
// the store sets comes from the clock of the process that writes, not from the database server.
int64_t unix_now_ms();
std::string iso8601_utc(int64_t unix_ms);

// Rewrites `?` to $1..$n outside single-quoted literals and double-quoted identifiers.
std::string number_placeholders(std::string_view sql);
// Valid UTF-8 without NUL: what both engines can store as TEXT alike.
bool is_storable_text(std::string_view s);

}  // namespace orion::store::sql
