// Decoders spread over several processes, feeding a GPU worker through device slots (issue
// 13, ADR 0074). NVDEC throughput in one process falls with many decoders (docs/gpu.md:
// 4 704 fps with 32 decoders, 1 519 with 160), while 8–16 processes reach the NVDEC ceiling;
// so `orion bench gpu --decode-procs P` runs the decoders in P child processes, each the
// engine side of its streams: it decodes with NVDEC, copies each frame on the GPU into a slot
// of the stream's device pool (gpu/device_slots.h) and publishes its token; this process, the
// GPU worker, reads the newest frame of each stream in place through the pools' CUDA IPC
// handles (ipc::FrameReader with gpu::device_mapper()) and hands it on (to a BatchCollector).
//
// Children are this binary (`orion bench gpu-decoder`, run_decoder_child()) started with
// posix_spawn; each gets one end of a SOCK_SEQPACKET socket pair on fd 3 over which it sends,
// per stream, the pool's read-only descriptor and the mailbox descriptor (SCM_RIGHTS), then
// "ready"; the parent sends 'S' (start decoding), 'C' (counts: frames decoded, CPU seconds,
// errors) and 'Q' (stop and exit). A child whose parent goes away (EOF) stops too.
//
// Frames and leases: a worker reads one lease per stream at a time, so each stream's reader
// thread takes the next frame only when the previous one (in the collector or in a batch) is
// gone; meanwhile the child keeps offering newer frames (overwrite), so what it takes next is
// the newest one (newest-frame rule). Each pool has `slots` slots: one being written, one
// offered, one leased, and a spare.
//
// Lifecycle: spawn() → start() → counts()... → stop_readers() (no more on_frame calls) → the
// caller drops every frame it was given → stop() (or destruction): readers closed, children
// asked to quit and reaped. (A child frees its device slots when it exits, and CUDA leaves
// memory freed while another process has it open undefined: hence the order.)
// Thread-safety: one owner thread; on_frame runs on the reader threads (one per stream).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/frame.h"
#include "core/result.h"

namespace orion::gpu {

struct DecodeProcsOptions {
  std::string clip;          // H.264 MP4
  int device = 0;            // CUDA device of the decoders, the slots and the reader
  int streams = 1;           // in all
  int procs = 1;             // child processes; stream i goes to child i * procs / streams
  bool decode_only = false;  // decode and count only (no pools, no frames to this process)
  bool realtime = true;      // pace at the clip's rate (else as fast as NVDEC decodes)
  bool pace_input = false;   // NvdecOptions::pace_input
  int decode_ahead = 0;      // NvdecOptions::decode_ahead
  uint32_t slots = 4;        // per stream pool
  uint64_t slot_bytes = uint64_t{1920} * 1088 * 3 / 2;  // largest NV12 frame
  std::string exe = "/proc/self/exe";                   // the orion binary of the children
  double setup_timeout_s = 60;                          // spawn to "ready", every child
};

struct DecodeCounts {
  uint64_t frames = 0;     // decoded by every child since it started
  uint64_t published = 0;  // of them, copied into a slot and published
  uint64_t errors = 0;     // copies or publishes that failed (the first is kept)
  double cpu_seconds = 0;  // the children's CPU time (user + system)
  uint64_t invalid = 0;    // frames this process's readers refused (validation)
  std::string first_error;
};

class DecodeProcs {
 public:
  using OnFrame = std::function<void(int stream, FramePtr frame)>;
  // Errors: "bench.bad_option", "gpu.spawn" (posix_spawn, a child that died or timed out, its
  // error message), the errors of FrameReader::open() and device_mapper().
  static Result<std::unique_ptr<DecodeProcs>> spawn(const DecodeProcsOptions& options,
                                                    OnFrame on_frame);
  ~DecodeProcs();
  DecodeProcs(const DecodeProcs&) = delete;
  DecodeProcs& operator=(const DecodeProcs&) = delete;

  Status start();
  Result<DecodeCounts> counts();
  void stop_readers();
  void stop();

  struct Impl;

 private:
  explicit DecodeProcs(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The child side (`orion bench gpu-decoder`): streams [first, first + count) of the clip.
struct DecoderChildOptions {
  int socket_fd = 3;
  std::string clip;
  int device = 0;
  int first_stream = 0;
  int count = 1;
  bool decode_only = false;
  bool realtime = true;
  bool pace_input = false;
  int decode_ahead = 0;
  uint32_t slots = 4;
  uint64_t slot_bytes = uint64_t{1920} * 1088 * 3 / 2;
};
// Runs until 'Q' or EOF on the socket; the exit code (0, or 1 after an error it sent).
int run_decoder_child(const DecoderChildOptions& options);

}  // namespace orion::gpu
