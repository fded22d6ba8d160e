#include "bench/store_bench.h"
#include "commands.h"

namespace {

void add_bench_store(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::StoreBenchOptions opts;
  auto* cmd = bench.add_subcommand(
      "store",
      "Events written per second through the Store, SQLite and PostgreSQL side by side, batched "
      "with retention vs one per transaction; rows kept after retention");
  cmd->add_option("--events", opts.events, "events written in batches")->capture_default_str();
  cmd->add_option("--batch", opts.batch, "events per batch (one transaction)")
      ->capture_default_str();
  cmd->add_option("--retention-every", opts.retention_every, "apply retention every N events")
      ->capture_default_str();
  cmd->add_option("--keep-rows", opts.keep_rows, "retention: rows kept")->capture_default_str();
  cmd->add_option("--unbatched", opts.unbatched_events, "baseline: events one per transaction")
      ->capture_default_str();
  cmd->add_option("--pg-url", opts.pg_url,
                  "PostgreSQL database to use (default: start a throwaway server for the run)");
  cmd->add_flag("--no-postgres", opts.skip_postgres, "SQLite only");
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_store_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_store);
