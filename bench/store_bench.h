// `orion bench store`: events written per second, sustained, through the Store, SQLite and
// PostgreSQL side by side, each durable at every commit (SQLite synchronous=FULL in WAL mode;
// PostgreSQL fsync and synchronous_commit on, as shipped).
//
// For each backend, in one run:
//   batched   - `events` events in batches of `batch` (one transaction each), with retention
//               (max_rows `keep_rows`) applied every `retention_every` events, as an engine's
//               event writer would: events/s over the whole run (retention included), the
//               time per batch (p50/p99/max) and per retention pass, and the rows kept after the
//               last retention (must be exactly keep_rows).
//   unbatched - baseline: `unbatched_events` events one per transaction: events/s, and the
//               ratio batched/unbatched.
// Then the ratio PostgreSQL/SQLite of the batched rates.
//
// SQLite: a temp file. PostgreSQL: `pg_url` when given (a database the bench may fill), else a
// throwaway server started for the run (store/testing/postgres_fixture.h, fsync on).
#pragma once

#include <string>

namespace orion::bench {

struct StoreBenchOptions {
  int events = 50'000;
  int batch = 100;
  int retention_every = 5'000;
  int keep_rows = 10'000;
  int unbatched_events = 1'000;
  std::string pg_url;  // "" = start a server for the run
  bool skip_postgres = false;
  std::string json_path;
};

int run_store_bench(const StoreBenchOptions& options);

}  // namespace orion::bench
