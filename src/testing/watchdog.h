// Watchdog: ends a hung test instead of letting it hang CI. Arm it at the start of a
// concurrency test; if it is still alive after `limit`, it prints `what` and aborts the process.
//
// Lifecycle: starts in the constructor, disarmed by the destructor. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "core/time.h"

namespace orion::testing {

class Watchdog {
 public:
  Watchdog(Duration limit, std::string what) : what_(std::move(what)) {
    thread_ = std::thread([this, limit] {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, limit.to_chrono(), [this] { return done_; })) {
        std::fprintf(stderr, "WATCHDOG: '%s' still running after %.1f s, aborting\n",
                     what_.c_str(), limit.as_seconds());
        std::abort();
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace orion::testing
