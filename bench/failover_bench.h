// `orion bench failover`: how long a stream is down when its engine dies, and during a
// rebalance (docs/design/scale_out.md). A throwaway PostgreSQL server (store/testing), three
// `orion engine` processes of this binary (lease `lease_s`), `streams` test patterns (6: two per
// engine, so that a fourth engine gets one); then `kills` times: the engine serving stream 0 is
// SIGKILLed and the time from the kill to the first frame a real RTSP client reads from its new
// engine is measured (the client follows the stream as a player would: control/testing/cluster.h
// Follower); the killed engine is started again (same id) before the next kill. Then a fourth
// engine joins and the longest gap of the stream that moves to it is the handover gap. Prints
// p50/max over the kills, the lease, the handover gap, and the load average.
#pragma once

#include <string>

namespace orion::bench {

struct FailoverBenchOptions {
  int kills = 10;
  int streams = 6;
  int fps = 10;
  double lease_s = 2;
  std::string json_path;
};

int run_failover_bench(const FailoverBenchOptions& options);

}  // namespace orion::bench
