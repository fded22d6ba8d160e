// Internal to src/store/: the two drivers behind sql::Connection. Only sql.cc calls these.
#pragma once

#include <memory>
#include <string>

#include "store/sql.h"

namespace orion::store::sql {

// `path` is the file (or ":memory:"); `url` is what the user gave, for messages.
// Sets WAL, synchronous=FULL, busy_timeout, foreign_keys=ON. Errors: store.open.
Result<std::unique_ptr<Connection>> open_sqlite(const std::string& path, const std::string& url);

// libpq URI. Errors: store.bad_url (libpq cannot parse it), store.open (cannot connect).
Result<std::unique_ptr<Connection>> open_postgres(const std::string& url);
Result<std::unique_ptr<Listener>> listen_postgres(const std::string& url,
                                                  const std::string& channel);

}  // namespace orion::store::sql
