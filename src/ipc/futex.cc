#include "ipc/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace orion::ipc {

WaitResult futex_wait(std::atomic<uint32_t>* word, uint32_t expected, Duration timeout) {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout != Duration::max()) {
    const int64_t ns = timeout.count_nanos() < 0 ? 0 : timeout.count_nanos();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  // FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC).
  const long rc = ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, tsp,
                            nullptr, 0);
  if (rc == 0) return WaitResult::kWoken;
  switch (errno) {
    case EAGAIN:
      return WaitResult::kValueChanged;
    case ETIMEDOUT:
      return WaitResult::kTimeout;
    default:
      return WaitResult::kInterrupted;  // EINTR
  }
}

int futex_wake(std::atomic<uint32_t>* word, int count) {
  const long rc = ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, count,
                            nullptr, nullptr, 0);
  return rc < 0 ? 0 : static_cast<int>(rc);
}

}  // namespace orion::ipc
