// Reconciler: keeps one engine running what the database says (issue 10, DESIGN.md "Control
// plane and data"). The API writes desired state into the Store; this thread reads it and calls
// Engine::apply(); nothing else passes between the API and the engine.
//
//   loop: revision = store.wait_desired_revision(applied, poll)   (NOTIFY on PostgreSQL,
//         if revision != applied:                                  100 ms polling on SQLite)
//             read streams, models, pipelines → to_engine_config → engine.apply()
//             → on_applied(records) (the event policies, api/service's view)
//             applied = revision
// A revision is applied whole: the lists are read after the revision, so a change that lands
// while they are read is seen again at the next turn (the revision moved on). A database that
// fails (down, locked) is retried with a capped backoff; the engine keeps running what it had.
// At start the whole desired state is applied, so an engine started again after a SIGKILL
// reconciles to what the database says before anything else.
//
// Lifecycle: construct → start() (thread "orion-reconcile") → stop() (idempotent; the thread
// notices within `poll`; also the destructor). The Store and Engine outlive it.
// Scale-out: with `runnable` set, only the streams it names (this engine's leases) and their
// pipelines are applied; refilter() re-applies at once when that set changes.
// Thread-safety: stats(), wait_applied() and refilter() from any thread. Locks: mu_ guards the
// statistics (a leaf; never held across a Store or Engine call).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/thread_annotations.h"
#include "core/time.h"
#include "engine/engine.h"
#include "store/store.h"

namespace orion::control {

struct ReconcilerOptions {
  Duration poll = Duration::millis(500);  // longest wait for a change (and for stop())
  Duration retry_max = Duration::seconds(5);
  // Called on the reconciler's thread after each apply, with the records just applied.
  std::function<void(const std::vector<store::PipelineRecord>&)> on_applied;
  // Scale-out (control/lease_keeper.h): the streams this engine may run now; a stream not in it
  // (and its pipelines) is left out of what is applied. Empty function: every stream.
  std::function<std::set<std::string>()> runnable;
};

struct ReconcilerStats {
  int64_t applied_revision = -1;  // -1: nothing applied yet
  uint64_t applies = 0;           // revisions applied
  uint64_t store_errors = 0;      // reads of the database that failed
  std::string last_error;         // of the store, or of the last apply (one line per error)
  engine::ApplyReport last_report;
};

class Reconciler {
 public:
  Reconciler(store::Store& store, engine::Engine& engine, ReconcilerOptions options = {});
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  void start();
  void stop();
  ReconcilerStats stats() const;
  // Applies the desired state last read again with the current runnable() set, from the
  // caller's thread (the lease keeper's, when its leases changed): stops what is no longer
  // runnable before it returns. Serialised with the reconciler's own applies (apply_mu_).
  void refilter();
  // Waits until a revision >= `revision` is applied, or `limit` passes. For tests and
  // `orion up`'s first start (real time: the reconciler waits on the database in real time).
  bool wait_applied(int64_t revision, Duration limit) const;

 private:
  void run(const std::stop_token& stop);
  bool reconcile_once(int64_t revision);
  // Filters the cached lists by runnable() and applies them; under apply_mu_.
  engine::ApplyReport apply_cached(std::vector<std::string>& errors);

  store::Store& store_;
  engine::Engine& engine_;
  const ReconcilerOptions options_;
  // Serialises applies (own thread, refilter) and guards the desired state last read. Lock
  // order: apply_mu_, then mu_.
  std::mutex apply_mu_;
  std::vector<store::StreamRecord> streams_;
  std::vector<store::ModelRecord> models_;
  std::vector<store::PipelineRecord> pipelines_;
  bool have_desired_ = false;
  mutable Mutex mu_;
  mutable std::condition_variable_any applied_cv_;
  ReconcilerStats stats_ GUARDED_BY(mu_);
  std::jthread thread_;
};

}  // namespace orion::control
