#include "bench/api_load_bench.h"
#include "commands.h"

namespace {

void add_bench_api(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::ApiLoadBenchOptions opts;
  auto* cmd = bench.add_subcommand("api",
                                   "wrk on the REST API and /metrics (SQLite and PostgreSQL) while "
                                   "the engine serves N streams; their "
                                   "output fps under load against no load");
  cmd->add_option("--streams", opts.streams, "test-pattern streams the engine serves")
      ->capture_default_str();
  cmd->add_option("--seconds", opts.seconds, "length of each measurement")->capture_default_str();
  cmd->add_option("--connections", opts.connections, "wrk connections")->capture_default_str();
  cmd->add_option("--threads", opts.threads, "wrk threads")->capture_default_str();
  cmd->add_option("--wrk", opts.wrk, "the wrk executable")->capture_default_str();
  cmd->add_flag("!--no-postgres", opts.postgres, "SQLite only");
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->add_flag("--api-processes", opts.api_processes,
                "PostgreSQL: requests/s with two `orion api` processes on one database vs one");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_api_load_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_api);
