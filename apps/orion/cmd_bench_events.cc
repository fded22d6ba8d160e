#include "bench/events_bench.h"
#include "commands.h"

namespace {

void add_bench_events(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::EventsBenchOptions opts;
  auto* cmd = bench.add_subcommand(
      "events",
      "Events per second sustained through EventWriter (policy, queue, batches, retention) into "
      "SQLite and PostgreSQL, against raw batched insert_events of the same rows; rows kept "
      "after retention");
  cmd->add_option("--events", opts.events, "events written in each phase")->capture_default_str();
  cmd->add_option("--per-result", opts.detections_per_result, "detections per result")
      ->capture_default_str();
  cmd->add_option("--batch", opts.batch, "rows per transaction (EventWriter max_batch)")
      ->capture_default_str();
  cmd->add_option("--queue", opts.queue, "EventWriter queue_capacity")->capture_default_str();
  cmd->add_option("--keep-rows", opts.keep_rows, "retention: rows kept")->capture_default_str();
  cmd->add_option("--retention-interval-ms", opts.retention_interval_ms,
                  "retention: applied every this many ms")
      ->capture_default_str();
  cmd->add_option("--rounds", opts.rounds, "raw and writer phases, alternating order")
      ->capture_default_str();
  cmd->add_option("--pg-url", opts.pg_url,
                  "PostgreSQL database to use, emptied of events first (default: start a "
                  "throwaway server for the run)");
  cmd->add_flag("--no-postgres", opts.skip_postgres, "SQLite only");
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_events_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_events);
