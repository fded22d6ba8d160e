// Clang thread-safety annotations, and the annotated mutex and locks Orion uses with them.
//
// The macros let Clang's -Wthread-safety check at compile time which lock guards what: a field
// GUARDED_BY(mu) read or written without `mu` held, a function REQUIRES(mu) called without it,
// a lock taken twice or left held, two locks taken against the declared order (ACQUIRED_AFTER /
// ACQUIRED_BEFORE, checked by -Wthread-safety-beta). scripts/thread-safety.sh builds Orion that
// way; GCC ignores the annotations (the macros are empty there). Reference:
// https://clang.llvm.org/docs/ThreadSafetyAnalysis.html (Abseil's thread_annotations.h and
// Chromium's base/thread_annotations.h are the same idea).
//
// libstdc++'s std::mutex and std::lock_guard carry no annotations, so the analysis cannot see
// them; code whose fields are GUARDED_BY uses these instead:
//   Mutex       a std::mutex that the analysis knows as a capability (lock/unlock/try_lock,
//               BasicLockable and Lockable: usable with std::condition_variable_any);
//   MutexLock   holds a Mutex for its scope (std::lock_guard);
//   UniqueLock  holds a Mutex, can unlock and relock it (std::unique_lock), and hands
//               std::condition_variable and Clock::wait_until the std::unique_lock they need
//               (native()).
//
//   class Counter {
//    public:
//     void add() EXCLUDES(mu_) { MutexLock lock(mu_); ++n_; }
//    private:
//     Mutex mu_;
//     int n_ GUARDED_BY(mu_) = 0;
//   };
//
// Conventions in src/: every field read or written under a lock is GUARDED_BY it; a field read
// without a lock on purpose (an atomic, a constant set before the threads start) says so in a
// comment instead. A function that expects the caller to hold a lock is REQUIRES(lock) (and is
// named *_locked). Two locks that nest declare their order with ACQUIRED_AFTER where both are
// visible from one header; the order across modules is written in docs/design/threads.md.
//
// A lambda is analysed as a function of its own, which holds no lock: a predicate that reads
// guarded fields under a condition variable wait calls mu.assert_held() first (or is written
// `[&]() REQUIRES(mu) { ... }`).
//
// Thread-safety: Mutex is a mutex; MutexLock and UniqueLock are used by one thread at a time.
#pragma once

#include <mutex>

#if defined(__clang__)
#define ORION_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ORION_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are capabilities (locks) named `x` in diagnostics ("mutex").
#define CAPABILITY(x) ORION_THREAD_ANNOTATION(capability(x))
// On a class: an RAII object that acquires a capability in its constructor and releases it in
// its destructor.
#define SCOPED_CAPABILITY ORION_THREAD_ANNOTATION(scoped_lockable)
// On a field: read and written only with capability `x` held (written: exclusively).
#define GUARDED_BY(x) ORION_THREAD_ANNOTATION(guarded_by(x))
// On a pointer field: the data it points to is guarded by `x` (the pointer itself is not).
#define PT_GUARDED_BY(x) ORION_THREAD_ANNOTATION(pt_guarded_by(x))
// On a lock field: the capabilities it must be acquired before / after, when both are held.
#define ACQUIRED_BEFORE(...) ORION_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) ORION_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
// On a function: the caller must hold (REQUIRES) / must not hold (EXCLUDES) these capabilities.
#define REQUIRES(...) ORION_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) ORION_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: it acquires / releases these capabilities (none named: `this`).
#define ACQUIRE(...) ORION_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) ORION_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// On a function returning bool: it acquired the capabilities when it returns `b`.
#define TRY_ACQUIRE(...) ORION_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: the analysis may assume the capability is held after the call.
#define ASSERT_CAPABILITY(x) ORION_THREAD_ANNOTATION(assert_capability(x))
// On a function returning a reference to a capability: which one it returns.
#define RETURN_CAPABILITY(x) ORION_THREAD_ANNOTATION(lock_returned(x))
// On a function: not analysed. For code whose locking the analysis cannot follow; say why.
#define NO_THREAD_SAFETY_ANALYSIS ORION_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace orion {

// A std::mutex the analysis can see. Not recursive; not copyable or movable.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

  // Tells the analysis that the calling thread holds this mutex (e.g. inside a condition
  // variable's predicate, which runs with it held). Not checked at run time: a promise.
  void assert_held() const ASSERT_CAPABILITY(this) {}

  // The std::mutex itself, for UniqueLock::native(). Locking it directly bypasses the analysis.
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

// Holds `mu` from construction to destruction (std::lock_guard for Mutex).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// Holds `mu` from construction, can release and retake it, and releases it (when held) on
// destruction (std::unique_lock for Mutex). native() is the std::unique_lock<std::mutex> it is
// made of, for std::condition_variable::wait and Clock::wait_until: they unlock and relock it
// inside the call and return with it held, so the analysis's view (held throughout) is right
// before and after the call.
class SCOPED_CAPABILITY UniqueLock {
 public:
  explicit UniqueLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.native()) {}
  ~UniqueLock() RELEASE() = default;
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;

  void lock() ACQUIRE() { lock_.lock(); }
  void unlock() RELEASE() { lock_.unlock(); }
  bool owns_lock() const { return lock_.owns_lock(); }

  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace orion
