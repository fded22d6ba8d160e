// The body of `orion worker`: one inference worker process, started by the engine's
// supervisor (never by hand). Protocol: protocol/control.h, protocol/result.h and
// docs/design/worker_protocol.md.
//
//   main thread: reads control lines from stdin (configure, heartbeat, state, stop) and
//                answers on stdout; answers heartbeats even while the detector is busy, so a
//                hung *process* (SIGSTOP, deadlock of everything) is what stops them;
//   loop thread ("worker-loop"): opens the stream's pool read-only and its mailbox, loads the
//                detector, then: newest frame → motion gate (when configured; a frame without
//                motion is released and skipped: no detect(), no result) → detect → release
//                the slot → result datagram. Heartbeat, state and stopped lines carry the
//                gate's counters (motion_frames, motion_passed, motion_skipped).
//
// Fatal errors (bad model file, bad descriptors, invalid shared memory at open) are reported as
// {"type":"error","fatal":true,...} and the process exits with status 3; the supervisor decides
// whether and when to retry. Nothing is thrown out of this function.
//
// The process asks the kernel to SIGKILL it when its parent dies (PR_SET_PDEATHSIG) and exits
// at once if the parent is already gone, so no worker outlives its engine.
#pragma once

#include <sys/types.h>

namespace orion::worker {

struct WorkerProcessOptions {
  int in_fd = 0;
  int out_fd = 1;
  pid_t expected_parent = 0;  // 0: do not check
};

// Returns the process exit status: 0 after "stop" or end of stdin, 2 for a bad configure
// message, 3 for a fatal error reported on stdout.
int run_worker_process(const WorkerProcessOptions& options);

}  // namespace orion::worker
