// `orion bench events`: events written per second, sustained, through events::EventWriter (the
// policy, the queue, batches on the writer thread, retention) into SQLite and PostgreSQL,
// against the baseline of raw batched Store::insert_events of the same rows, measured in the
// same run, as a ratio. Both durable at every commit (SQLite synchronous=FULL in WAL mode;
// PostgreSQL fsync on), both with retention by count (max_rows `keep_rows`) every
// `retention_interval_ms`.
//
// For each backend, in one run, each phase on a database of its own; raw and writer run
// `rounds` times, raw first in odd rounds and writer first in even ones (neither always gets the
// warmer disk or server), and their medians are compared:
//   raw      - `events` rows (made before the clock starts) in batches of `batch`, one
//              insert_events transaction each, apply_retention whenever retention_interval_ms
//              has passed: events/s over the whole phase.
//   writer   - the same rows as `events / detections_per_result` DetectionResults offered to
//              an EventWriter (max_batch `batch`, queue `queue`, a policy that keeps every
//              detection). The producer waits (sleeps 50 us) while the queue could not take a
//              whole result, so nothing is dropped and the rate is what the writer sustains:
//              events/s from the first offer() to the last row committed; the time of each
//              offer() call (p50/p99/max); then, after the next retention pass, the rows kept
//              (must be exactly keep_rows).
//   burst    - the same results offered at once, with no waiting: offers/s, rows written and
//              dropped (queue full), which must add up to the events offered.
// SQLite: a temp file per phase. PostgreSQL: a throwaway server started for the run
// (store/testing/postgres_fixture.h, fsync on), a database per phase; or `pg_url`, a database
// the bench may fill, used by every phase after deleting every event in it.
#pragma once

#include <string>

namespace orion::bench {

struct EventsBenchOptions {
  int events = 100'000;
  int detections_per_result = 2;
  int batch = 500;
  int queue = 8192;
  int keep_rows = 10'000;
  int retention_interval_ms = 1000;
  int rounds = 3;      // raw and writer phases each run this many times, in alternating order
  std::string pg_url;  // "" = start a server for the run
  bool skip_postgres = false;
  std::string json_path;
};

int run_events_bench(const EventsBenchOptions& options);

}  // namespace orion::bench
