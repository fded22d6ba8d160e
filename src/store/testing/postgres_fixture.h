// PostgresServer: a real, throwaway PostgreSQL server for tests and benchmarks — what the store's
// contract tests run against, and what API and engine tests can reuse.
//
// start(): makes a temp dir ($TMPDIR, else /tmp: "orion-pg-XXXXXX"), runs `initdb` into it
// (superuser "orion", trust authentication, UTF8, C locale), then `postgres` as a child process
// on a free loopback TCP port (listen_addresses=127.0.0.1, unix socket in the temp dir, never
// the system's), and waits until it accepts connections. The destructor stops it (fast
// shutdown, SIGKILL if it does not end in 10 s) and removes the temp dir. If the owning process
// dies first, the server gets SIGQUIT (PR_SET_PDEATHSIG) and ends too (the temp dir stays).
//
// Root: PostgreSQL refuses to run as root, and CI (Debian 12 containers) runs tests as root. Then
// initdb and postgres run as the user "postgres" (created by Debian's postgresql package), or
// "nobody" where there is none: the forked child drops to that user (setgroups, setresgid,
// setresuid) before exec, and the temp dir is given to it. No sudo/runuser needed.
//
// Binaries: PostgresOptions::bin_dir, else $ORION_PG_BIN, else the newest
// /usr/lib/postgresql/<version>/bin (Debian's layout), else `initdb` on $PATH. None found:
// error "postgres.missing" (tests: ORION_REQUIRE_POSTGRES fails under CI=true, skips elsewhere).
//
// Thread-safety: thread-compatible; start and destroy on the same thread (the death signal is
// tied to the thread that forked). shared_postgres() is thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "core/result.h"
#include "testing/assets.h"  // running_in_ci()

namespace orion::store::testing {

struct PostgresOptions {
  bool fsync = false;   // false: fsync, synchronous_commit and full_page_writes off (tests)
  std::string bin_dir;  // "" = look it up (see above)
};

class PostgresServer {
 public:
  static Result<std::unique_ptr<PostgresServer>> start(const PostgresOptions& options = {});
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  // postgresql://orion@127.0.0.1:PORT/DB
  std::string url(const std::string& db) const;
  // CREATE DATABASE; `name` is [a-z0-9_]+. Returns its URL.
  Result<std::string> create_database(const std::string& name);
  // A new empty database with a name not used before in this process. Returns its URL.
  Result<std::string> fresh_database();

  // Stops the server (fast shutdown) and waits for it; start_again() brings it back on the same
  // port and data. For tests of a server that goes away under a client.
  Status stop();
  Status start_again();

 private:
  PostgresServer() = default;
  Status launch();

  std::string dir_, bin_dir_, log_path_;
  bool fsync_ = false;
  int port_ = 0;
  pid_t pid_ = -1;
  uid_t run_uid_ = 0;  // the user initdb/postgres run as (ours unless we are root)
  gid_t run_gid_ = 0;
  bool drop_privileges_ = false;
  int databases_made_ = 0;
};

// One server for the whole test process, started at the first call, stopped at exit. A failed
// start is remembered and returned again (it is not retried).
Result<PostgresServer*> shared_postgres();

}  // namespace orion::store::testing

// In a test (or SetUp): `var` is the shared server. Missing binaries FAIL under CI=true and skip
// elsewhere; any other failure to start FAILs everywhere.
#define ORION_REQUIRE_POSTGRES(var)                                                              \
  ::orion::store::testing::PostgresServer* var = nullptr;                                        \
  do {                                                                                           \
    auto orion_pg_ = ::orion::store::testing::shared_postgres();                                 \
    if (!orion_pg_.ok()) {                                                                       \
      if (orion_pg_.error().code == "postgres.missing" && !::orion::testing::running_in_ci()) {  \
        GTEST_SKIP() << orion_pg_.error().to_string();                                           \
      }                                                                                          \
      FAIL() << orion_pg_.error().to_string()                                                    \
             << (::orion::testing::running_in_ci() ? " (CI=true: PostgreSQL is required)" : ""); \
    }                                                                                            \
    var = *orion_pg_;                                                                            \
  } while (0)
