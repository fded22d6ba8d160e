// Watchdog: ends a hung test instead of letting it hang CI. Arm it at the start of a
// concurrency test; if it is still alive after `limit`, it prints `what` and aborts the process.
//
// Lifecycle: starts in the constructor, disarmed by the destructor. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/thread_annotations.h"
#include "core/time.h"

namespace orion::testing {

class Watchdog {
 public:
  Watchdog(Duration limit, std::string what) : what_(std::move(what)) {
    thread_ = std::thread([this, limit] {
      UniqueLock lock(mu_);
      if (!cv_.wait_for(lock.native(), limit.to_chrono(), [this] {
            mu_.assert_held();  // the predicate runs with mu_ held
            return done_;
          })) {
        std::fprintf(stderr, "WATCHDOG: '%s' still running after %.1f s, aborting\n",
                     what_.c_str(), limit.as_seconds());
        std::abort();
      }
    });
  }
  ~Watchdog() {
    {
      MutexLock lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  const std::string what_;
  Mutex mu_;  // a leaf
  std::condition_variable cv_;
  bool done_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace orion::testing
