// Process-shared futex wait/wake on a 32-bit word that lives in shared memory (MAP_SHARED), so a
// process blocked in futex_wait() is woken by another process calling futex_wake() on the same
// word. Not FUTEX_PRIVATE: the word is shared across address spaces.
//
// Thread-safety: thread-safe (system calls on atomics).
#pragma once

#include <atomic>
#include <cstdint>

#include "core/time.h"

namespace orion::ipc {

static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

enum class WaitResult : uint8_t { kWoken, kValueChanged, kTimeout, kInterrupted };

// Sleeps while `*word == expected`, at most `timeout` (Duration::max() = no limit).
// Returns kValueChanged at once when the word already differs. Spurious wake-ups are possible:
// callers re-check their condition in a loop.
WaitResult futex_wait(std::atomic<uint32_t>* word, uint32_t expected, Duration timeout);

// Wakes up to `count` waiters on `word`; returns how many were woken.
int futex_wake(std::atomic<uint32_t>* word, int count = 1);

}  // namespace orion::ipc
