// The annotated Mutex and its locks behave as std::mutex, std::lock_guard and std::unique_lock
// do (the compile-time side, -Wthread-safety, is checked by scripts/thread-safety.sh).
#include "core/thread_annotations.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>

#include "testing/watchdog.h"

namespace orion {
namespace {

using orion::testing::Watchdog;

// Whether another thread finds `mu` locked (a thread may not try_lock a mutex it holds).
bool held_elsewhere(Mutex& mu) {
  bool free = false;
  std::thread([&] {
    if (mu.try_lock()) {
      free = true;
      mu.unlock();
    }
  }).join();
  return !free;
}

TEST(Mutex, MutexLockHoldsTheMutexForItsScope) {
  Mutex mu;
  {
    MutexLock lock(mu);
    EXPECT_TRUE(held_elsewhere(mu));
  }
  EXPECT_FALSE(held_elsewhere(mu));
}

TEST(Mutex, UniqueLockReleasesAndRetakesTheMutex) {
  Mutex mu;
  {
    UniqueLock lock(mu);
    EXPECT_TRUE(lock.owns_lock());
    EXPECT_TRUE(held_elsewhere(mu));
    lock.unlock();
    EXPECT_FALSE(lock.owns_lock());
    EXPECT_FALSE(held_elsewhere(mu));
    lock.lock();
    EXPECT_TRUE(held_elsewhere(mu));
  }
  EXPECT_FALSE(held_elsewhere(mu));
}

TEST(Mutex, AUniqueLockReleasedBeforeItsEndIsNotReleasedTwice) {
  Mutex mu;
  {
    UniqueLock lock(mu);
    lock.unlock();
  }
  EXPECT_FALSE(held_elsewhere(mu));
  MutexLock again(mu);  // std::mutex::unlock twice would be undefined; this must simply lock
  EXPECT_TRUE(held_elsewhere(mu));
}

// A flag set under the mutex by one thread, waited for by another.
struct Flag {
  Mutex mu;
  bool set GUARDED_BY(mu) = false;
  void raise(auto& cv) {
    {
      MutexLock lock(mu);
      set = true;
    }
    cv.notify_all();
  }
};

TEST(Mutex, ConditionVariableAnyWaitsOnAUniqueLock) {
  Watchdog dog(Duration::seconds(30), "condition_variable_any on UniqueLock");
  Flag f;
  std::condition_variable_any cv;
  std::thread t([&] { f.raise(cv); });
  {
    UniqueLock lock(f.mu);
    cv.wait(lock, [&] {
      f.mu.assert_held();
      return f.set;
    });
    EXPECT_TRUE(lock.owns_lock());
    EXPECT_TRUE(f.set);
  }
  t.join();
}

TEST(Mutex, ConditionVariableAnyWaitsOnTheMutexItself) {
  Watchdog dog(Duration::seconds(30), "condition_variable_any on Mutex");
  Flag f;
  std::condition_variable_any cv;
  std::thread t([&] { f.raise(cv); });
  f.mu.lock();
  cv.wait(f.mu, [&] {
    f.mu.assert_held();
    return f.set;
  });
  EXPECT_TRUE(f.set);
  f.mu.unlock();
  t.join();
}

TEST(Mutex, ConditionVariableWaitsThroughTheNativeLock) {
  Watchdog dog(Duration::seconds(30), "condition_variable on UniqueLock::native");
  Flag f;
  std::condition_variable cv;
  std::thread t([&] { f.raise(cv); });
  {
    UniqueLock lock(f.mu);
    cv.wait(lock.native(), [&] {
      f.mu.assert_held();
      return f.set;
    });
    EXPECT_TRUE(lock.owns_lock());
    EXPECT_TRUE(f.set);
  }
  t.join();
}

}  // namespace
}  // namespace orion
