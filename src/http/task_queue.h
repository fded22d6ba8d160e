// NamedTaskQueue: the worker threads of an httplib::Server, named, with a catch-all per task.
// httplib's own pool has unnamed threads and lets an exception from a connection task end the
// process; install this instead:
//
//   server.new_task_queue = [] { return new http::NamedTaskQueue(8, "orion-api-http", log); };
//
// Lifecycle: the threads start in the constructor; shutdown() (httplib calls it when the
// server stops) runs the tasks already queued, then joins every thread. Ownership: httplib
// owns the queue (it deletes it after shutdown()).
// Thread-safety: enqueue() from any thread; shutdown() once, from the server's thread.
// `on_failure` is called on a worker thread, with what() of an exception a task let escape
// (or "unknown exception"), and must be thread-safe.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_annotations.h"

namespace orion::http {

class NamedTaskQueue final : public httplib::TaskQueue {
 public:
  NamedTaskQueue(int threads, std::string thread_name,
                 std::function<void(const std::string& what)> on_failure);
  ~NamedTaskQueue() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

 private:
  void work();

  const std::string name_;
  const std::function<void(const std::string&)> on_failure_;
  Mutex mu_;  // a leaf
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_ GUARDED_BY(mu_);
  bool shutdown_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // the constructor and shutdown() only
};

}  // namespace orion::http
