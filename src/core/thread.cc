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
  try {
    set_current_thread_name(name);
    fn();
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orion: thread %.*s: uncaught exception: %s\n",
                 static_cast<int>(name.size()), name.data(), e.what());
  } catch (...) {
    std::fprintf(stderr, "orion: thread %.*s: uncaught non-standard exception\n",
                 static_cast<int>(name.size()), name.data());
  }
  return false;
}

}  // namespace orion
