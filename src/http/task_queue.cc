#include "http/task_queue.h"

#include <algorithm>

#include "core/thread.h"

namespace orion::http {

NamedTaskQueue::NamedTaskQueue(int threads, std::string thread_name,
                               std::function<void(const std::string& what)> on_failure)
    : name_(std::move(thread_name)), on_failure_(std::move(on_failure)) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this] { run_guarded(name_, [this] { work(); }); });
  }
}

NamedTaskQueue::~NamedTaskQueue() { shutdown(); }

void NamedTaskQueue::enqueue(std::function<void()> fn) {
  {
    MutexLock lock(mu_);
    jobs_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void NamedTaskQueue::shutdown() {
  {
    MutexLock lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void NamedTaskQueue::work() {
  for (;;) {
    std::function<void()> fn;
    {
      UniqueLock lock(mu_);
      cv_.wait(lock.native(), [this] {
        mu_.assert_held();  // the predicate runs with mu_ held
        return shutdown_ || !jobs_.empty();
      });
      if (jobs_.empty()) return;  // shut down and drained
      fn = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      fn();
    } catch (const std::exception& e) {
      if (on_failure_) on_failure_(e.what());
    } catch (...) {
      if (on_failure_) on_failure_("unknown exception");
    }
  }
}

}  // namespace orion::http
