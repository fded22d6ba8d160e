#include "commands.h"
#include "worker/worker_process.h"

namespace {

void add_worker(CLI::App& app, CLI::App& /*bench*/) {
  static orion::worker::WorkerProcessOptions opts;
  static int parent = 0;
  auto* cmd = app.add_subcommand("worker",
                                 "Inference worker process (started by the engine, never by hand; "
                                 "protocol: docs/design/worker_protocol.md)");
  cmd->add_option("--parent-pid", parent, "exit at once unless this is the parent process id");
  cmd->callback([] {
    opts.expected_parent = static_cast<pid_t>(parent);
    orion::cli::exit_code = orion::worker::run_worker_process(opts);
  });
}

}  // namespace

ORION_REGISTER_COMMAND(add_worker);
