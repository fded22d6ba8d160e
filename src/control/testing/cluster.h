// Cluster: several `orion engine` processes on one PostgreSQL database, for the scale-out
// system tests and `orion bench failover` (docs/design/scale_out.md). Real processes of the
// orion binary (testing/program.h), the database read through a Store of its own.
//
// Lifecycle: start() (opens the Store) → start_engine() any number of times → kill / stop /
// continue engines → destructor (SIGKILLs what still runs). Thread-safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "media/testing/rtsp_fixtures.h"
#include "store/store.h"
#include "testing/program.h"

namespace orion::control::testing {

struct ClusterOptions {
  std::string orion_binary;   // the `orion` executable
  std::string db_url;         // a PostgreSQL (or SQLite) database, empty or not
  std::filesystem::path dir;  // engine logs go here
  double lease_s = 2;         // --lease-seconds of every engine
  int max_moves = 1;          // --max-moves
};

// A stream as the database says it is served: a live lease, and a status row of that engine
// and epoch saying "live".
struct Serving {
  std::string engine;
  int64_t epoch = 0;
  std::string output_url;
};

class Cluster {
 public:
  static Result<std::unique_ptr<Cluster>> start(ClusterOptions options);
  ~Cluster();

  store::Store& store() { return *store_; }
  const ClusterOptions& options() const { return options_; }

  // Starts `orion engine --engine-id ID` and waits for its "running" line. Errors: testing.*.
  Status start_engine(const std::string& id, const std::vector<std::string>& extra = {});
  orion::testing::Program* engine(const std::string& id);
  bool kill(const std::string& id);    // SIGKILL and reap
  bool pause(const std::string& id);   // SIGSTOP
  bool resume(const std::string& id);  // SIGCONT
  // Streams test://ball at 160x120, `fps`, named prefix0, prefix1, ...
  Status create_streams(int n, const std::string& prefix, int fps);

  // Every stream served now (see Serving); a stream in none of these is not.
  std::map<std::string, Serving> serving();
  // The RTSP base of every engine (engines table).
  std::map<std::string, std::string> rtsp_bases();

 private:
  Cluster() = default;
  ClusterOptions options_;
  std::unique_ptr<store::Store> store_;
  std::map<std::string, std::unique_ptr<orion::testing::Program>> engines_;
};

// Follower: a viewer of one stream that follows it from engine to engine, as a user's player
// would: reads its output with a real RTSP client and, when that output ends, asks the
// database where the stream is served now and connects there. Records every frame's arrival
// (SteadyClock) across all the outputs it read, so the longest gap is the stream's downtime.
// poll() advances it (call it often: from a wait loop). Thread-safety: one owner thread.
class Follower {
 public:
  Follower(Cluster& cluster, std::string stream) : cluster_(cluster), stream_(std::move(stream)) {}
  void poll();
  std::vector<Timestamp> arrivals();     // every frame so far, oldest first
  Duration longest_gap(Timestamp from);  // between consecutive frames after `from`
  std::vector<std::string> engines_seen() const { return engines_; }
  size_t frames() { return arrivals().size(); }
  const std::string& url() const { return url_; }

 private:
  Cluster& cluster_;
  std::string stream_, url_;
  std::vector<std::string> engines_;
  std::unique_ptr<media::testing::RtspTestClient> client_;
  std::vector<Timestamp> done_;  // arrivals of the clients already ended
};

}  // namespace orion::control::testing
