// `orion bench ipc`: publish → worker process woken holding the frame, across processes.
//
// For each worker count (default 1, 4, 16 forked worker processes on one stream) it measures,
// per frame and per worker, the time from just before the engine hands the frame over to the
// moment the worker process runs again with the whole frame readable:
//   shm   - Orion: ShmFramePool::publish() offers a slot token to each worker's mailbox and
//           wakes the sleeping workers through the pool's futex word (one system call); the
//           worker leases the slot and reads it in place.
//   pipe  - baseline (the seeds' stdout design): the engine writes the frame's bytes into a
//           pipe per worker; the worker is woken by read() and reads the whole frame.
//   floor - no frame at all: one FUTEX_WAKE of N processes sleeping on one word; what the
//           machine's scheduler costs alone, to read the other figures against.
// Frames are 1280×720 BGR, paced (default one every 2 ms; the next only once every worker took
// the previous one; the publisher sleeps meanwhile, it never spins) so every measurement is a
// wake from sleep. Reports p50/p99/max, the ratio pipe/shm and
// the bytes copied per frame per worker in each design (counted, not assumed).
#pragma once

#include <string>
#include <vector>

namespace orion::bench {

struct IpcBenchOptions {
  int frames = 300;
  std::vector<int> worker_counts = {1, 4, 16};
  int width = 1280;
  int height = 720;
  int interval_us = 2000;
  int worker_nice = 0;  // nice value the worker processes give themselves (both designs)
  std::string json_path;
};

int run_ipc_bench(const IpcBenchOptions& options);

}  // namespace orion::bench
