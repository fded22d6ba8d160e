// `orion engine --db URL [--rtsp-port 8554] [--http-port 8081] [--engine-id ID]
// [--advertise-host HOST] [--max-streams N] [--lease-seconds S] [--max-moves N] [--drain]`: one
// engine, run from the
// database (docs/design/reconciler.md): it applies the desired state the API wrote, serves each
// stream's annotated output over RTSP and its media endpoint over HTTP, and writes its status and
// heartbeat back. Several engines on one PostgreSQL share the streams by leases
// (docs/design/scale_out.md). Runs until SIGINT / SIGTERM, then stops cleanly (with --drain:
// after handing its streams over).
//
// Prints one line when it runs, which scripts and tests read:
//   orion engine: ENGINE-ID running on sqlite://orion.db, RTSP rtsp://127.0.0.1:8554
#include <cstdio>
#include <cstring>
#include <string>

#include "api/redact.h"
#include "api/server.h"
#include "commands.h"
#include "control/engine_node.h"
#include "node_console.h"

namespace {

struct EngineCmdOptions {
  std::string db = "sqlite://orion.db";
  int rtsp_port = 8554;
  int http_port = 8081;
  std::string host = "127.0.0.1";
  double duration_s = 0;
  bool stamp_sequence = false;
  double stall_timeout_s = 5;  // engine-wide default; a stream's stall_timeout_s overrides it
  std::string http_address = "127.0.0.1";
  bool insecure_no_token = false;
  std::string engine_id;
  int max_streams = 0;
  double lease_s = 10;
  int max_moves = 1;
  bool drain = false;
  double drain_limit_s = 120;
};

int run_engine(const EngineCmdOptions& o) {
  const sigset_t stop = orion::cli::block_stop_signals();
  auto token = orion::api::token_from_environment();
  if (!token) {
    std::fprintf(stderr, "orion engine: %s\n", token.error().message.c_str());
    return 2;
  }
  orion::control::EngineNodeOptions no;
  no.token = *token;
  no.http_address = o.http_address;
  no.allow_insecure_no_token = o.insecure_no_token;
  no.db = o.db;
  no.engine.rtsp_port = o.rtsp_port;
  no.engine.http_port = o.http_port;
  no.engine.public_host = o.host;
  no.engine.stamp_sequence = o.stamp_sequence;
  no.engine.capture.stall_timeout = orion::Duration::seconds_f(o.stall_timeout_s);
  no.engine_id = o.engine_id;
  no.max_streams = o.max_streams;
  no.lease = orion::Duration::seconds_f(o.lease_s);
  no.max_moves = o.max_moves;
  auto node = orion::control::EngineNode::start(no);
  if (!node) {
    std::fprintf(stderr, "orion engine: %s\n",
                 orion::api::redact_text(node.error().to_string()).c_str());
    return 2;
  }
  orion::control::EngineNode& n = **node;
  std::printf("orion engine: %s running on %s, RTSP rtsp://%s:%d, media %s\n", n.id().c_str(),
              orion::api::redact_text(o.db).c_str(), o.host.c_str(), n.engine().rtsp_port(),
              n.media_url().c_str());
  orion::cli::NodeConsole console(n.engine());
  console.tick();
  const int sig = orion::cli::run_until_stopped(stop, o.duration_s, [&] { console.tick(); });
  std::printf("orion engine: %s, stopping\n", sig > 0 ? strsignal(sig) : "duration reached");
  if (o.drain) {
    std::printf("orion engine: draining: handing the streams over\n");
    std::fflush(stdout);
    const bool all = n.drain(orion::Duration::seconds_f(o.drain_limit_s));
    std::printf("orion engine: %s\n", all ? "drained: every stream runs on another engine"
                                          : "drain limit reached; stopping what is left");
  }
  n.stop();
  std::printf("orion engine: stopped cleanly\n");
  return 0;
}

void add_engine(CLI::App& app, CLI::App& /*bench*/) {
  static EngineCmdOptions opts;
  auto* cmd =
      app.add_subcommand("engine", "Run one engine from the database (no API; see `orion api`)");
  cmd->add_option("--db", opts.db, "database: sqlite://PATH or postgresql://...")
      ->capture_default_str();
  cmd->add_option("--rtsp-port", opts.rtsp_port, "RTSP output port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-port", opts.http_port,
                  "port of the engine's media endpoint (snapshots, metrics)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-address", opts.http_address, "address of the media endpoint")
      ->capture_default_str();
  cmd->add_flag("--insecure-no-token", opts.insecure_no_token,
                "serve the media endpoint on a non-loopback address without ORION_API_TOKEN");
  cmd->add_option("--advertise-host,--host", opts.host,
                  "host name other machines reach this engine at: written into its output URLs")
      ->capture_default_str();
  cmd->add_option("--engine-id", opts.engine_id,
                  "stable id of this engine (default: host:pid:start time); a restarted engine "
                  "with the same id takes its leases back at once");
  cmd->add_option("--max-streams", opts.max_streams,
                  "streams this engine takes at most (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--lease-seconds", opts.lease_s,
                  "lease of each stream; failover after a crash takes about this long + a "
                  "reconnect (docs/design/scale_out.md)")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0));
  cmd->add_option("--max-moves", opts.max_moves,
                  "streams moved at once when rebalancing or draining")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  cmd->add_flag("--drain", opts.drain,
                "on SIGTERM/SIGINT (or --duration), hand every stream over to the other engines, "
                "--max-moves at a time, before exiting");
  cmd->add_option("--drain-limit", opts.drain_limit_s, "seconds a drain may take at most")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  cmd->add_option("--duration", opts.duration_s,
                  "stop after this many seconds (0: until a signal)");
  cmd->add_option("--stall-timeout", opts.stall_timeout_s,
                  "seconds a connected live source may send nothing before it is 'stalled' and "
                  "restarted (a stream's stall_timeout_s overrides it)")
      ->check(CLI::Range(0.5, 3600.0))
      ->capture_default_str();
  cmd->add_flag("--stamp-sequence", opts.stamp_sequence,
                "draw each frame's sequence as a block code (testing)");
  cmd->callback([] { orion::cli::exit_code = run_engine(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_engine);
