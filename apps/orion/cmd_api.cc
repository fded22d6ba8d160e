// `orion api --db URL [--http-port 8080] [--http-address 127.0.0.1]`: the REST API alone, over
// the database the engines reconcile from (docs/design/api.md). Runs until SIGINT / SIGTERM,
// then stops cleanly (requests in flight finish). ORION_API_TOKEN set → every /api/v1 and
// /metrics request needs `Authorization: Bearer <token>`; without one it serves loopback only
// unless --insecure-no-token.
//
// GET /metrics renders the engines' status rows from the database (metrics/from_status.h).
//
// Prints one line when it serves, which scripts and tests read:
//   orion api: serving http://127.0.0.1:8080/api/v1 on sqlite://orion.db (token required)
//   orion api: dashboard http://127.0.0.1:8080/ (from <folder>)   (docs/design/dashboard.md)
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "api/redact.h"
#include "api/server.h"
#include "api/static_files.h"
#include "commands.h"
#include "metrics/from_status.h"
#include "store/store.h"

namespace {

struct ApiCmdOptions {
  std::string db = "sqlite://orion.db";
  int http_port = 8080;
  std::string http_address = "127.0.0.1";
  bool insecure_no_token = false;
  bool quiet = false;
  std::string web_root;  // "" = web/ beside the binary, when built
};

int run_api(const ApiCmdOptions& o) {
  // Block the stop signals before any thread exists, so every thread inherits the mask and only
  // sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto token = orion::api::token_from_environment();
  if (!token) {
    std::fprintf(stderr, "orion api: %s\n", token.error().message.c_str());
    return 2;
  }
  auto store = orion::store::Store::open(o.db);
  if (!store) {
    std::fprintf(stderr, "orion api: %s\n",
                 orion::api::redact_text(store.error().to_string()).c_str());
    return 2;
  }
  orion::api::ServerOptions so;
  so.address = o.http_address;
  so.port = o.http_port;
  so.token = *token;
  so.allow_unauthenticated_remote = o.insecure_no_token;
  so.access_log = !o.quiet;
  so.web_root = o.web_root.empty() ? orion::api::default_web_root() : o.web_root;
  // GET /metrics: the status rows the engines write, plus this process's CPU and memory. A failed
  // status query still answers: process metrics, orion_metrics_store_up 0 and a comment naming
  // the error code (docs/design/metrics.md).
  so.metrics = [&s = **store] {
    return orion::metrics::render(orion::metrics::snapshot_from_store(s));
  };
  auto server = orion::api::ApiServer::start(**store, so);
  if (!server) {
    std::fprintf(stderr, "orion api: %s\n", server.error().message.c_str());
    return 2;
  }
  std::printf("orion api: serving %s/api/v1 on %s (%s)\n", (*server)->base_url().c_str(),
              (*store)->url_redacted().c_str(),
              so.token.empty() ? "no token: set ORION_API_TOKEN to require one" : "token required");
  if (so.web_root.empty()) {
    std::printf("orion api: no dashboard (not built; --web-root DIR serves one)\n");
  } else {
    std::printf("orion api: dashboard %s/ (from %s)\n", (*server)->base_url().c_str(),
                so.web_root.c_str());
  }
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::printf("orion api: %s, stopping\n", strsignal(sig));
  (*server)->stop();
  std::printf("orion api: stopped cleanly\n");
  return 0;
}

void add_api(CLI::App& app, CLI::App& /*bench*/) {
  static ApiCmdOptions opts;
  auto* cmd = app.add_subcommand(
      "api", "Serve the REST API over the database (streams, models, pipelines, events, stats)");
  cmd->add_option("--db", opts.db, "database: sqlite://PATH or postgresql://...")
      ->capture_default_str();
  cmd->add_option("--http-port", opts.http_port, "HTTP port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-address", opts.http_address, "address to listen on")
      ->capture_default_str();
  cmd->add_flag("--insecure-no-token", opts.insecure_no_token,
                "serve a non-loopback address without ORION_API_TOKEN (anyone who reaches it can "
                "change every stream)");
  cmd->add_flag("--quiet", opts.quiet, "no access log line per request");
  cmd->add_option("--web-root", opts.web_root,
                  "folder of the dashboard served at / (default: web/ beside the binary)");
  cmd->callback([] { orion::cli::exit_code = run_api(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_api);
