// Thread entry points: the one home for naming a thread and for the catch-all every thread
// entry needs (STYLE.md: exceptions are caught at thread and process entry points, never thrown
// across a mailbox or a process boundary).
//
//   std::thread t([this] { run_guarded("orion-supervise", [this] { run(); }); });
//   std::thread t([this] {
//     run_guarded("comp-x", [this] { run(); }, [this](std::string_view why) { fail(why); });
//   });
//
// Thread-safety: both functions act on the calling thread only.
#pragma once

#include <functional>
#include <string_view>

namespace orion {

// Names the calling thread (Linux keeps 15 bytes; longer names are cut).
void set_current_thread_name(std::string_view name);

// Names the calling thread `name`, then calls fn(). An exception escaping fn is written to
// stderr with the thread's name instead of ending the process, and run_guarded returns false;
// true when fn returned normally. The owner decides what a thread that died means for it
// (e.g. the supervisor runs its loop turn by turn inside run_guarded and goes on).
bool run_guarded(std::string_view name, const std::function<void()>& fn) noexcept;

// The same, and when an exception escapes fn, calls on_failure(what) on this thread before
// returning false (`what`: the exception's what(), or "non-standard exception"), so the owner
// can record why its thread ended (a failed state its stats show). An exception thrown by
// on_failure itself is written to stderr and swallowed.
bool run_guarded(std::string_view name, const std::function<void()>& fn,
                 const std::function<void(std::string_view what)>& on_failure) noexcept;

}  // namespace orion
