// Internal to src/store/: the numbered schema migrations, one list for both engines.
//
// Migration N is applied once, by Store::open(), inside the same transaction as the row
// (N, applied_at) it adds to schema_migrations; a database already at N skips it. Migrations
// are never edited once released: a change of schema is a new number at the end.
// Statements are plain DDL both engines accept; the token {{ID}} stands for the dialect's
// auto-increment key (Dialect::id_column), {{NOW_MS}} for now_ms_sql().
#pragma once

#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/sql.h"

namespace orion::store {

struct Migration {
  int version;
  std::string_view name;
  std::vector<std::string_view> statements;  // both engines
  // Then, for the one engine only (triggers: their bodies differ).
  std::vector<std::string_view> sqlite_statements = {};
  std::vector<std::string_view> postgres_statements = {};
};

// The database server's clock, Unix milliseconds, as SQL of the dialect (lease expiries are
// compared in the database's clock, so engines' clocks need not agree).
std::string_view now_ms_sql(const sql::Dialect& d);

// In increasing version order, 1, 2, ... with no gap.
const std::vector<Migration>& migrations();
inline int latest_schema_version() { return migrations().back().version; }

// Brings the database to latest_schema_version() in one transaction. Errors: store.migration
// (the database is newer than this build, or a statement failed; nothing is changed then).
Status migrate(sql::Connection& conn);

}  // namespace orion::store
