// LeaseKeeper: the streams one engine may run, by leases in the database
// (docs/design/scale_out.md, ADR 0050). Its thread runs a lease round (Store::lease_round) every
// `renew_every`, and at once when woken (PostgreSQL NOTIFY orion_leases: a lease released or
// claimed, a stream added): heartbeat, renew what it holds, release what it handed over, claim
// what placement (control/placement.h) gives it, then hand over what placement takes away.
//
// Self-fencing: after each successful round the local deadline is
//   round start (this process's monotonic clock) + lease - margin,
// always before the database's expiry of those leases (which counts from the server's receipt
// of the same round). runnable() is empty from the deadline on, whether or not the database can
// be reached, and a fence thread ("orion-fence") calls on_change within `fence_poll` of the
// deadline, so the engine stops its streams by itself before any other engine may claim them,
// even when the keeper's own thread is stuck in a database call. A database outage shorter
// than the lease minus the margin costs nothing: the next round renews the same epochs.
//
// Handover: a stream to give away is first taken out of runnable() and on_change is called
// (synchronously: the engine stops it), THEN its lease is released, so two engines never run
// it at once. Draining (drain()) hands everything over, max_moves streams at a time, each batch
// after the previous one is claimed by another engine (or `drain_wait` passed).
//
// Lifecycle: construct → first_round() (synchronous; the caller applies what it got) → start()
// (threads "orion-lease", "orion-fence") → drain() (optional) → stop() (idempotent; also the
// destructor; releases nothing: the caller releases via release_all() after stopping its
// streams). Thread-safety: runnable(), epoch_of(), generation(), stats() from any thread.
// Locks: mu_ guards the held set, the deadline and the counters (a leaf: never held across a
// Store call or on_change); on_change_mu_ serialises on_change calls (keeper and fence thread).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/result.h"
#include "core/thread_annotations.h"
#include "store/store.h"

namespace orion::control {

struct LeaseKeeperOptions {
  store::EngineRecord identity;  // id, media_url, rtsp_url, max_streams (state is the keeper's)
  Duration lease = Duration::seconds(10);
  Duration renew_every = Duration::zero();  // 0: lease / 4
  Duration margin = Duration::zero();       // 0: lease / 4
  int max_moves = 1;
  Duration fence_poll = Duration::millis(50);
  Duration drain_wait = Duration::seconds(30);  // per batch
  const Clock* clock = nullptr;                 // nullptr: SteadyClock
  // The set runnable() returns changed: called on the keeper's or the fence thread, never both
  // at once; must stop what is no longer runnable before it returns.
  std::function<void()> on_change;
};

struct LeaseKeeperStats {
  uint64_t rounds = 0, round_errors = 0;
  uint64_t claimed = 0, released = 0, lost = 0, self_fenced = 0;
  std::string last_error;
  bool draining = false;
};

class LeaseKeeper {
 public:
  LeaseKeeper(store::Store& store, LeaseKeeperOptions options);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // One round from the caller's thread (no on_change). Errors: the Store's.
  Status first_round();
  void start();
  void stop();
  // Hands every stream over (see above) and returns once none is held or `limit` passed.
  // Returns whether everything was handed over.
  bool drain(Duration limit);
  // Stops nothing itself: after the caller stopped its streams, releases every lease still
  // held, so others claim them at once instead of after expiry. Best effort.
  void release_all();

  std::map<std::string, int64_t> runnable() const;    // stream → epoch; {} past the deadline
  int64_t epoch_of(const std::string& stream) const;  // 0 when not runnable
  uint64_t generation() const;                        // grows whenever runnable() changes
  LeaseKeeperStats stats() const;
  Duration lease() const { return options_.lease; }

 private:
  bool round(bool claims);  // one lease round; false when the database failed
  void run(const std::stop_token& stop);
  void fence(const std::stop_token& stop);
  void changed();  // calls on_change under on_change_mu_
  bool expired_locked() const REQUIRES(mu_);
  // Past the deadline with streams held: clears them (the engine must stop them: the caller
  // calls changed() after unlocking). Returns whether it did.
  bool fence_if_expired_locked() REQUIRES(mu_);

  store::Store& store_;
  const LeaseKeeperOptions options_;
  const Clock& clock_;
  Duration renew_every_, margin_;
  mutable Mutex mu_;
  std::map<std::string, int64_t> held_ GUARDED_BY(mu_);
  std::map<std::string, int64_t> releasing_ GUARDED_BY(mu_);  // stopped, not yet released
  Timestamp deadline_ GUARDED_BY(mu_);
  bool fenced_ GUARDED_BY(mu_) = false;  // the deadline passed; held_ cleared
  bool draining_ GUARDED_BY(mu_) = false;
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  LeaseKeeperStats stats_ GUARDED_BY(mu_);
  std::mutex round_mu_;  // one lease round at a time (keeper thread, drain, release_all)
  std::mutex on_change_mu_;
  std::jthread thread_, fence_thread_;
};

}  // namespace orion::control
