#include "node_console.h"

#include <cstdio>
#include <ctime>
#include <set>

namespace orion::cli {

void NodeConsole::tick() {
  std::set<std::string> seen;
  for (const auto& r : engine_.report()) {
    seen.insert(r.capture.name);
    std::string state(media::to_string(r.capture.state));
    if (r.compositor.signal_lost) state += " (signal lost)";
    if (!r.compositor.failure.empty()) state += " (" + r.compositor.failure + ")";
    std::string& last = shown_[r.capture.name];
    if (last == state) continue;
    if (last.empty())
      std::printf("  stream %-16s %s\n", r.capture.name.c_str(), r.output_url.c_str());
    last = state;
    std::printf("  stream %-16s %s%s\n", r.capture.name.c_str(), state.c_str(),
                r.capture.state == media::StreamState::kLive || r.capture.last_error.empty()
                    ? ""
                    : (": " + r.capture.last_error).c_str());
  }
  for (const auto& p : engine_.pipelines()) {
    const std::string key = "pipeline " + p.name;
    seen.insert(key);
    const std::string state = engine::to_string(p.state);
    if (shown_[key] == state) continue;
    shown_[key] = state;
    std::printf("  pipeline %-16s on %s %s (pid %d)%s\n", p.name.c_str(), p.stream.c_str(),
                state.c_str(), p.pid, p.last_error.empty() ? "" : (": " + p.last_error).c_str());
  }
  for (auto it = shown_.begin(); it != shown_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    const bool pipeline = it->first.rfind("pipeline ", 0) == 0;
    std::printf("  %s%s removed\n", pipeline ? "" : "stream ", it->first.c_str());
    it = shown_.erase(it);
  }
  if (++ticks_ % 30 == 0) {
    for (const auto& p : engine_.pipelines()) {
      std::printf(
          "  pipeline %-16s %s, %llu offered, %llu taken, %llu dropped, %llu results, %llu "
          "restarts, last result "
          "%.0f ms ago\n",
          p.name.c_str(), engine::to_string(p.state), static_cast<unsigned long long>(p.offered),
          static_cast<unsigned long long>(p.taken), static_cast<unsigned long long>(p.dropped),
          static_cast<unsigned long long>(p.results), static_cast<unsigned long long>(p.restarts),
          p.last_result_age == Duration::max() ? -1.0 : p.last_result_age.as_millis());
    }
    for (const auto& r : engine_.report()) {
      std::printf("  stream %-16s %s, %llu frames in, %llu out, %.1f fps, %llu viewers' media\n",
                  r.capture.name.c_str(), std::string(media::to_string(r.capture.state)).c_str(),
                  static_cast<unsigned long long>(r.capture.frames),
                  static_cast<unsigned long long>(r.compositor.frames), r.compositor.fps,
                  static_cast<unsigned long long>(r.output.media));
    }
  }
  std::fflush(stdout);
}

sigset_t block_stop_signals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  return stop;
}

int run_until_stopped(const sigset_t& stop, double duration_s,
                      const std::function<void()>& each_second) {
  const timespec tick{1, 0};
  int elapsed = 0;
  while (duration_s <= 0 || elapsed < duration_s) {
    const int sig = sigtimedwait(&stop, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) return sig;
    ++elapsed;
    each_second();
  }
  return 0;
}

}  // namespace orion::cli
