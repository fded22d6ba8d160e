#include "bench/reconfigure_bench.h"
#include "commands.h"

namespace {

void add_bench_reconfigure(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::ReconfigureBenchOptions opts;
  auto* cmd = bench.add_subcommand(
      "reconfigure",
      "POST of a stream through the API → first frame read by an RTSP client, p50/max, against "
      "connecting to a stream that already plays");
  cmd->add_option("--rounds", opts.rounds, "streams added (and deleted) one after the other")
      ->capture_default_str();
  cmd->add_option("--db", opts.db, "database (default: a SQLite file in a temp folder)");
  cmd->add_flag("--postgres", opts.postgres, "also on a throwaway PostgreSQL server");
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_reconfigure_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_reconfigure);
