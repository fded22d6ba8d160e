// `orion up --config orion.yaml`: runs the engine (streams → capture → compositor → RTSP out)
// until Ctrl-C / SIGTERM, then stops every stream cleanly. Prints each output URL.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <string>

#include "commands.h"
#include "engine/config.h"
#include "engine/engine.h"

namespace {

struct UpOptions {
  std::string config;
  int rtsp_port = 8554;
  int http_port = 8080;
  std::string host = "127.0.0.1";
  double duration_s = 0;  // 0: until a signal
  bool stamp_sequence = false;
};

int run_up(const UpOptions& o) {
  // Block the stop signals before any thread exists, so every thread inherits the mask and
  // only sigtimedwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto config = orion::engine::load_config(o.config);
  if (!config) {
    std::fprintf(stderr, "orion up: %s\n", config.error().message.c_str());
    return 2;
  }
  orion::engine::EngineOptions eo;
  eo.rtsp_port = o.rtsp_port;
  eo.http_port = o.http_port;
  eo.public_host = o.host;
  eo.stamp_sequence = o.stamp_sequence;
  auto engine = orion::engine::Engine::create(std::move(config.value()), eo);
  if (!engine) {
    std::fprintf(stderr, "orion up: %s\n", engine.error().message.c_str());
    return 2;
  }
  if (auto s = (*engine)->start(); !s) {
    std::fprintf(stderr, "orion up: %s\n", s.error().message.c_str());
    return 1;
  }
  std::printf("orion up: HTTP port %d reserved (the API/dashboard is not built yet)\n", o.http_port);
  for (const auto& r : (*engine)->report()) {
    if (r.capture.state == orion::media::StreamState::kFailed) {
      std::printf("  %-16s FAILED: %s\n", r.capture.name.c_str(), r.capture.last_error.c_str());
    } else {
      std::printf("  %-16s output %s\n", r.capture.name.c_str(), r.output_url.c_str());
    }
  }
  for (const auto& p : (*engine)->pipelines())
    std::printf("  pipeline %-16s on %s, worker %s%s\n", p.name.c_str(), p.stream.c_str(),
                orion::engine::to_string(p.state), p.motion_gate ? ", motion gate on" : "");
  std::printf("orion up: running; Ctrl-C to stop\n");
  std::fflush(stdout);

  std::map<std::string, std::string> shown;  // last state printed per stream
  const timespec tick{1, 0};
  int elapsed = 0;
  int sig = 0;
  while (o.duration_s <= 0 || elapsed < o.duration_s) {
    sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) break;
    ++elapsed;
    for (const auto& r : (*engine)->report()) {
      std::string state(orion::media::to_string(r.capture.state));
      if (r.compositor.signal_lost) state += " (signal lost)";
      if (!r.compositor.failure.empty()) state += " (" + r.compositor.failure + ")";
      if (shown[r.capture.name] != state) {
        shown[r.capture.name] = state;
        std::printf("  %-16s %s%s\n", r.capture.name.c_str(), state.c_str(),
                    r.capture.state == orion::media::StreamState::kLive ? ""
                                                                         : (" " + r.capture.last_error).c_str());
      }
    }
    for (const auto& p : (*engine)->pipelines()) {
      const std::string key = "pipeline " + p.name;
      const std::string state = orion::engine::to_string(p.state);
      if (shown[key] != state) {
        shown[key] = state;
        std::printf("  pipeline %-16s %s (pid %d)%s\n", p.name.c_str(), state.c_str(), p.pid,
                    p.last_error.empty() ? "" : (": " + p.last_error).c_str());
      }
    }
    if (elapsed % 30 == 0) {
      for (const auto& p : (*engine)->pipelines()) {
        char motion[128] = "";
        if (p.motion_gate)
          std::snprintf(motion, sizeof motion, ", motion gate %llu passed, %llu skipped",
                        static_cast<unsigned long long>(p.motion_passed),
                        static_cast<unsigned long long>(p.motion_skipped));
        std::printf(
            "  pipeline %-16s %s, %llu offered, %llu taken, %llu dropped, %llu results, %llu "
            "restarts, "
            "last result %.0f ms ago, capture->result %.0f ms%s\n",
            p.name.c_str(), orion::engine::to_string(p.state),
            static_cast<unsigned long long>(p.offered), static_cast<unsigned long long>(p.taken),
            static_cast<unsigned long long>(p.dropped), static_cast<unsigned long long>(p.results),
            static_cast<unsigned long long>(p.restarts),
            p.last_result_age == orion::Duration::max() ? -1.0 : p.last_result_age.as_millis(),
            p.last_result_latency.as_millis(), motion);
      }
      for (const auto& r : (*engine)->report()) {
        std::printf("  %-16s %s, %llu frames in, %llu out, %.1f fps, %llu client media\n", r.capture.name.c_str(),
                    std::string(orion::media::to_string(r.capture.state)).c_str(),
                    static_cast<unsigned long long>(r.capture.frames),
                    static_cast<unsigned long long>(r.compositor.frames), r.compositor.fps,
                    static_cast<unsigned long long>(r.output.media));
      }
    }
    std::fflush(stdout);
  }
  std::printf("orion up: %s, stopping\n", sig > 0 ? strsignal(sig) : "duration reached");
  (*engine)->stop();
  std::printf("orion up: stopped cleanly\n");
  return 0;
}

void add_up(CLI::App& app, CLI::App& /*bench*/) {
  static UpOptions opts;
  auto* cmd = app.add_subcommand("up", "Run the engine: ingest streams, annotate, serve RTSP (until Ctrl-C)");
  cmd->add_option("--config", opts.config, "YAML config with streams (models, pipelines)")->required();
  cmd->add_option("--rtsp-port", opts.rtsp_port, "RTSP output port")->capture_default_str();
  cmd->add_option("--http-port", opts.http_port, "HTTP port (API, dashboard; not built yet)")->capture_default_str();
  cmd->add_option("--host", opts.host, "host name printed in the output URLs")->capture_default_str();
  cmd->add_option("--duration", opts.duration_s, "stop after this many seconds (0: until a signal)");
  cmd->add_flag("--stamp-sequence", opts.stamp_sequence, "draw each frame's sequence as a block code (testing)");
  cmd->callback([] { orion::cli::exit_code = run_up(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_up);
