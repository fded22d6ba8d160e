// `orion bench reconfigure`: how long a stream added through the REST API takes to play.
//
// One process runs an EngineNode (engine + reconciler + status) and the API server on one
// database (SQLite temp file, or PostgreSQL: a throwaway server, or --pg-url), as `orion up`
// does. For each of `rounds` rounds:
//   reconfigure - POST /api/v1/streams (a test pattern) → the first decoded frame read by a real
//                 RTSP client (a client is started as soon as the API shows the stream's output
//                 URL, and again if the mount did not exist yet); then DELETE, and the next round
//                 waits until the engine no longer runs it;
//   baseline    - a new client on a stream that already plays → its first decoded frame (the
//                 cost of connecting and decoding, which the first figure includes).
// Reported: p50 and max of each, and the ratio reconfigure/baseline of the p50s.
#pragma once

#include <string>

namespace orion::bench {

struct ReconfigureBenchOptions {
  int rounds = 10;
  std::string db;         // "" = a SQLite file in a temp folder
  bool postgres = false;  // start a throwaway PostgreSQL server and use it
  std::string json_path;
};

int run_reconfigure_bench(const ReconfigureBenchOptions& options);

}  // namespace orion::bench
