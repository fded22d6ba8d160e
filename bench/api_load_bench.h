// `orion bench api`: the REST API and /metrics under load from `wrk` (Debian's wrk, on
// loopback), SQLite and PostgreSQL side by side, while the engine in the same process serves
// `streams` test-pattern streams (as `orion up` runs them) — and those streams' output fps.
//
// For each backend, in one run:
//   baseline        - output fps of the streams (sum of the compositors' frame counts over
//                     `seconds`, per stream) with no HTTP load;
//   GET streams     - wrk on GET /api/v1/streams: requests/s, p99 latency, output fps meanwhile;
//   GET metrics     - the same on GET /metrics;
//   POST+DELETE     - wrk alternating POST /api/v1/pipelines (a disabled pipeline: the engine
//                     reconciles every change but starts no worker for it) and DELETE of it.
// Output fps under load is reported as a ratio to the baseline of the same run.
//
// With api_processes (`--api-processes`), instead: PostgreSQL only, no engine; two `orion api`
// processes on one database, GET /api/v1/streams and POST+DELETE pipelines, first with the
// whole wrk load on one process, then split in halves across both at once; requests/s of two
// against one, as a ratio (docs/performance.md, "Two API processes").
#pragma once

#include <string>

namespace orion::bench {

struct ApiLoadBenchOptions {
  int streams = 4;
  int seconds = 10;
  int connections = 16;
  int threads = 2;
  bool postgres = true;
  std::string wrk = "wrk";
  std::string json_path;
  bool api_processes = false;
};

int run_api_load_bench(const ApiLoadBenchOptions& options);

}  // namespace orion::bench
