#include "core/thread.h"

#include <pthread.h>

#include <cstdio>
#include <exception>
#include <string>

namespace orion {

void set_current_thread_name(std::string_view name) {
  const std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
}

bool run_guarded(std::string_view name, const std::function<void()>& fn) noexcept {
  return run_guarded(name, fn, nullptr);
}

bool run_guarded(std::string_view name, const std::function<void()>& fn,
                 const std::function<void(std::string_view what)>& on_failure) noexcept {
  std::string what;
  try {
    set_current_thread_name(name);
    fn();
    return true;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "non-standard exception";
  }
  std::fprintf(stderr, "orion: thread %.*s: uncaught exception: %s\n",
               static_cast<int>(name.size()), name.data(), what.c_str());
  if (on_failure) {
    try {
      on_failure(what);
    } catch (...) {
      std::fprintf(stderr, "orion: thread %.*s: its failure handler threw as well\n",
                   static_cast<int>(name.size()), name.data());
    }
  }
  return false;
}

}  // namespace orion
