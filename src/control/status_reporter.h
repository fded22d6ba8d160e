// StatusReporter: writes what one engine actually runs into the Store, for the API, the
// dashboard and other engines (DESIGN.md "Control plane and data"): every `interval` a
// heartbeat (engines table: id, media endpoint, RTSP base) and a status row per stream (state,
// last error, fps in and out, frames, reconnects, output URL) and per pipeline (state, pid,
// restarts by reason, violations, offered/taken/dropped, results, last result age). The figures
// are the engine's own counters (Engine::report(), Engine::pipelines()), copied, never derived
// from what a worker claims. fps_in is frames captured over the last interval (the engine's
// clock); fps_out the compositor's own measure.
//
// A stream or pipeline this engine stopped running gets one last row with state "stopped"
// (when it still exists in the desired state; a deleted one's row went with it). A write that
// fails (database down) is counted and retried at the next interval with fresh figures; the
// video path never waits on it (its own thread, its own Store). So what is buffered while the
// database is away is bounded by construction: one row per stream and pipeline (plus the
// heartbeat), always the newest figures; rows_pending says how many are not in the database
// yet, row_write_errors how many writes failed (each superseded by the next round's). A
// "stopped" row that failed is kept and written at a later round (docs/design/db_resilience.md).
//
// Every row carries the lease epoch of its stream (epoch_of); the database refuses one written
// under a stale epoch (store.stale_epoch), which is counted, not retried: the stream is no
// longer this engine's, and the next round leaves it out.
//
// Lifecycle: construct → start() (thread "orion-status") → stop() (idempotent; also the
// destructor; writes nothing more). report_now() writes one round from the caller's thread
// (tests, and right after start so the API sees the engine at once).
// Thread-safety: stats() from any thread; report_now() from one thread at a time (mu_ guards
// the previous round's figures and the counters; held across the round, which only this
// class's own thread or one test calls).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/thread_annotations.h"
#include "engine/engine.h"
#include "store/store.h"

namespace orion::control {

struct StatusReporterOptions {
  store::EngineRecord identity;  // id, media_url, rtsp_url, max_streams
  Duration interval = Duration::seconds(1);
  const Clock* clock = nullptr;  // nullptr: SteadyClock (fps_in's time base and the interval)
  // Scale-out (control/lease_keeper.h): the lease epoch each stream's rows are written under;
  // a stream with epoch 0 (not this engine's) gets no row, nor do streams that stopped (their
  // lease went with them). Empty function: epoch 0 for all (unfenced, one engine).
  std::function<int64_t(const std::string& stream)> epoch_of;
  bool heartbeat = true;  // false: the lease keeper writes the heartbeat with its rounds
};

struct StatusReporterStats {
  uint64_t rounds = 0;
  uint64_t write_errors = 0;      // rounds with at least one failed write
  uint64_t rows_pending = 0;      // rows (heartbeat included) the last round could not write
  uint64_t row_write_errors = 0;  // failed row writes in all
  uint64_t stale_refused = 0;     // rows the database refused as written under a stale epoch
  std::string last_error;
};

class StatusReporter {
 public:
  StatusReporter(store::Store& store, const engine::Engine& engine, StatusReporterOptions options);
  ~StatusReporter();
  StatusReporter(const StatusReporter&) = delete;
  StatusReporter& operator=(const StatusReporter&) = delete;

  void start();
  void stop();
  void report_now();
  StatusReporterStats stats() const;
  // fps_in per stream as the last round measured it (for /metrics, which has no interval).
  std::map<std::string, double> fps_in() const;

  // The rows one round writes (pure; exposed for tests). `elapsed` is the time since the
  // previous round and `previous_frames` its capture counts (fps_in), per stream.
  static store::StreamStatusRecord stream_row(const engine::StreamReport& r,
                                              const std::string& engine_id,
                                              uint64_t previous_frames, Duration elapsed);
  static store::PipelineStatusRecord pipeline_row(const engine::PipelineStats& p,
                                                  const std::string& engine_id);

 private:
  void run(const std::stop_token& stop);

  store::Store& store_;
  const engine::Engine& engine_;
  const StatusReporterOptions options_;
  const Clock& clock_;
  mutable Mutex mu_;
  StatusReporterStats stats_ GUARDED_BY(mu_);
  std::map<std::string, uint64_t> frames_ GUARDED_BY(mu_);  // capture frames at the last round
  std::map<std::string, double> fps_in_ GUARDED_BY(mu_);    // measured at the last round
  std::set<std::string> pipelines_ GUARDED_BY(mu_);         // pipelines in the last round
  // "stopped" rows a failed write left for a later round.
  std::set<std::string> unwritten_gone_streams_ GUARDED_BY(mu_);
  std::set<std::string> unwritten_gone_pipelines_ GUARDED_BY(mu_);
  Timestamp last_round_ GUARDED_BY(mu_);
  bool have_round_ GUARDED_BY(mu_) = false;
  std::jthread thread_;
};

}  // namespace orion::control
