// `orion up [--db sqlite://orion.db] [--config orion.yaml]`: the whole system in one process —
// an engine (EngineNode: reconciler, status, events, media endpoint) and the REST API with
// /metrics — over one database, which is still the only thing the two share
// (docs/design/reconciler.md). `--config` imports the YAML file into the database first, through
// the API's validator (api/config_import.h): a name already there is updated, never duplicated;
// what the file does not name is kept. With an empty database and no --config it serves the API
// and waits for streams to be added. Runs until SIGINT / SIGTERM, then stops cleanly.
//
// Prints where everything is, which scripts and tests read:
//   orion up: API      http://127.0.0.1:8080/api/v1 (sqlite://orion.db, no token: ...)
//   orion up: metrics  http://127.0.0.1:8080/metrics
//   orion up: dashboard http://127.0.0.1:8080/         (docs/design/dashboard.md)
//   orion up: RTSP     rtsp://127.0.0.1:8554/<stream>
//   stream lobby        rtsp://127.0.0.1:8554/lobby        (one per stream, also when added later)
#include <cstdio>
#include <cstring>
#include <string>

#include "api/config_import.h"
#include "api/redact.h"
#include "api/server.h"
#include "api/static_files.h"
#include "commands.h"
#include "control/local_system.h"
#include "node_console.h"

namespace {

struct UpOptions {
  std::string db = "sqlite://orion.db";
  std::string config;
  int rtsp_port = 8554;
  int http_port = 8080;
  int media_port = 0;
  std::string http_address = "127.0.0.1";
  std::string host = "127.0.0.1";
  double duration_s = 0;  // 0: until a signal
  bool stamp_sequence = false;
  double stall_timeout_s = 5;  // engine-wide default; a stream's stall_timeout_s overrides it
  bool insecure_no_token = false;
  bool quiet = false;
  std::string web_root;  // "" = web/ beside the binary, when built
};

int fail(const std::string& what) {
  std::fprintf(stderr, "orion up: %s\n", orion::api::redact_text(what).c_str());
  return 2;
}

int run_up(const UpOptions& o) {
  const sigset_t stop = orion::cli::block_stop_signals();
  auto token = orion::api::token_from_environment();
  if (!token) return fail(token.error().message);
  auto api_store = orion::store::Store::open(o.db);
  if (!api_store) return fail(api_store.error().to_string());
  if (!o.config.empty()) {
    auto imported = orion::api::import_config_file(**api_store, o.config);
    if (!imported) return fail(imported.error().message);
    std::printf("orion up: imported %s: %s\n", o.config.c_str(),
                orion::api::to_string(*imported).c_str());
  }

  api_store->reset();  // the system opens its own connections
  orion::control::LocalSystemOptions lo;
  lo.node.db = o.db;
  lo.node.engine.rtsp_port = o.rtsp_port;
  lo.node.engine.http_port = o.media_port;
  lo.node.engine.public_host = o.host;
  lo.node.engine.stamp_sequence = o.stamp_sequence;
  lo.node.engine.capture.stall_timeout = orion::Duration::seconds_f(o.stall_timeout_s);
  lo.node.token = *token;
  lo.node.http_address = "127.0.0.1";  // the API relays snapshots from it over loopback
  lo.api.address = o.http_address;
  lo.api.port = o.http_port;
  lo.api.token = *token;
  lo.api.allow_unauthenticated_remote = o.insecure_no_token;
  lo.api.access_log = !o.quiet;
  lo.api.web_root = o.web_root.empty() ? orion::api::default_web_root() : o.web_root;
  auto up = orion::control::LocalSystem::start(lo);
  if (!up) return fail(up.error().to_string());
  orion::control::EngineNode* n = &(*up)->node();
  const std::string base = (*up)->base_url();
  std::printf(
      "orion up: API      %s/api/v1 (%s, %s)\n", base.c_str(),
      (*up)->api_store().url_redacted().c_str(),
      lo.api.token.empty() ? "no token: set ORION_API_TOKEN to require one" : "token required");
  std::printf("orion up: metrics  %s/metrics\n", base.c_str());
  if (lo.api.web_root.empty()) {
    std::printf("orion up: no dashboard (not built; --web-root DIR serves one)\n");
  } else {
    std::printf("orion up: dashboard %s/\n", base.c_str());
  }
  std::printf("orion up: RTSP     rtsp://%s:%d/<stream>\n", o.host.c_str(),
              n->engine().rtsp_port());
  std::printf("orion up: engine %s, media endpoint %s\n", n->id().c_str(), n->media_url().c_str());
  if (n->engine().stream_names().empty())
    std::printf("orion up: no streams yet: add one with POST %s/api/v1/streams\n", base.c_str());
  std::printf("orion up: running; Ctrl-C to stop\n");
  orion::cli::NodeConsole console(n->engine());
  console.tick();
  const int sig = orion::cli::run_until_stopped(stop, o.duration_s, [&] { console.tick(); });
  std::printf("orion up: %s, stopping\n", sig > 0 ? strsignal(sig) : "duration reached");
  (*up)->stop();
  std::printf("orion up: stopped cleanly\n");
  return 0;
}

void add_up(CLI::App& app, CLI::App& /*bench*/) {
  static UpOptions opts;
  auto* cmd =
      app.add_subcommand("up", "Run engine + API + metrics over one database (until Ctrl-C)");
  cmd->add_option("--db", opts.db, "database: sqlite://PATH or postgresql://...")
      ->capture_default_str();
  cmd->add_option("--config", opts.config,
                  "YAML file imported into the database first (streams, models, pipelines)");
  cmd->add_option("--rtsp-port", opts.rtsp_port, "RTSP output port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-port", opts.http_port,
                  "HTTP port of the API and /metrics (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-address", opts.http_address, "address the API listens on")
      ->capture_default_str();
  cmd->add_option("--media-port", opts.media_port,
                  "loopback port of the engine's media endpoint (0: any free)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--host", opts.host, "host name printed in the output URLs")->capture_default_str();
  cmd->add_option("--duration", opts.duration_s, "stop after this many seconds (0: until a signal)");
  cmd->add_option("--stall-timeout", opts.stall_timeout_s,
                  "seconds a connected live source may send nothing before it is 'stalled' and "
                  "restarted (a stream's stall_timeout_s overrides it)")
      ->check(CLI::Range(0.5, 3600.0))
      ->capture_default_str();
  cmd->add_flag("--stamp-sequence", opts.stamp_sequence, "draw each frame's sequence as a block code (testing)");
  cmd->add_flag("--insecure-no-token", opts.insecure_no_token,
                "serve a non-loopback address without ORION_API_TOKEN (anyone who reaches it can "
                "change every stream)");
  cmd->add_flag("--quiet", opts.quiet, "no access log line per request");
  cmd->add_option("--web-root", opts.web_root,
                  "folder of the dashboard served at / (default: web/ beside the binary)");
  cmd->callback([] { orion::cli::exit_code = run_up(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_up);
