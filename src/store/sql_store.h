// Internal to src/store/: the one Store implementation, over an sql::Connection. Every query and
// every row↔record mapping is here once; SQLite and PostgreSQL differ only below sql::Connection.
#pragma once

#include <memory>
#include <string>

#include "store/sql.h"
#include "store/store.h"

namespace orion::store {

// `conn` is migrated already. `url` is what open() was given (kept for url_redacted() and for
// the PostgreSQL listener's own connection).
std::unique_ptr<Store> make_sql_store(std::unique_ptr<sql::Connection> conn, std::string url);

}  // namespace orion::store
