// `orion bench soak --minutes M`: the whole system (`orion up`'s LocalSystem: engine, reconciler,
// REST API over SQLite) in this process for M minutes, under faults, judging itself.
//
// What runs: `streams` RTSP cameras served on loopback by the project's own test source
// (media/testing/rtsp_fixtures.h: x264 test pattern, `width`x`height` at `fps`), each with one
// pipeline (yolox_nano from the shared assets when present, else the "fake" detector; stream 0's
// pipeline critical, the others best-effort), and one RTSP client per output stream recording
// every decoded picture. Faults meanwhile:
//   - every `kill_every_s` (± half, at random) one worker, picked at random, gets SIGKILL;
//   - every `cut_every_s` the last camera is cut: its RTSP source stopped (port closed, every
//     client dropped) for `cut_for_s`, then served again on the same port;
//   - every `write_every_s` an API write: a throwaway (disabled) stream is created, then patched
//     (loop: true); every write the API acknowledged is recorded and read back, and the oldest
//     throwaway is deleted once 20 exist. The last ones are checked again at the end.
//
// Verdict (exit code 0 only when every line holds):
//   fps        every 5 s window of every output within 5 % of the camera's fps; for the cut
//              camera the windows that straddle a cut's start or its recovery are left out, the
//              windows inside a cut (the signal-lost card) must hold the rate too;
//   rss        this process's RSS at the end within 5 % of its value after the warm-up (a sixth
//              of the run, 30 s .. 10 min);
//   latency    p99 of the engine-added output latency (frame decoded → handed to the encoder,
//              every frame, exact) of the last window ≤ 1.05 × that of the first window after
//              the warm-up, or ≤ the first + 5 ms where that is larger (ADR 0088: p99s of a few
//              ms differ by scheduling jitter alone) (windows: 5 min, shorter for short runs: a
//              third of the measured time);
//   writes     every acknowledged API write present (read back after each, the survivors at the
//              end);
//   orphans    after the system stopped: no process whose parent is this one, none started
//              with --parent-pid of this one;
//   shm / fds  after the system stopped: no new /dev/shm entry, no memfd left open in this
//              process; while running: open fds at the end ≤ after the warm-up + 8.
// RSS and fds are this process's: the engine and the API, plus the bench's RTSP clients (their
// memory is bounded: their records are drained 4 times a second). The cameras run in a child
// process (`orion bench soak-cameras`), stopped and served again through its stdin.
// ORION_SOAK_DEBUG=1 prints every frame slower than 20 ms (stream, time, hops) to stderr.
// A progress line every 10 s: fps per output, RSS, glibc heap in use and held (mallinfo2: a
// leak grows "in use", allocator retention only "held"), fds, faults so far;
// ORION_SOAK_MALLOC_INFO=DIR also writes malloc_info() (per arena) to DIR/t<seconds>.xml.
// CTest: bench_soak_3min (label system, RUN_SERIAL, PROCESSORS 2) runs `--minutes 3
// --require-model`; docs/performance.md "Soak" has the figures.
//
// Thread-safety: run_soak_bench() runs on the calling thread (plus the system's own threads).
#pragma once

#include <string>

namespace orion::bench {

struct SoakBenchOptions {
  double minutes = 60;
  int streams = 2;
  int width = 320, height = 240, fps = 15;
  double kill_every_s = 5;
  double cut_every_s = 60;
  double cut_for_s = 10;
  double write_every_s = 2;
  std::string model;  // ONNX file (yolox); "" = yolox_nano.onnx of the assets, else "fake"
  unsigned seed = 0;  // 0: random
  std::string json_path;
  // No yolox_nano in the assets (and no `model`): instead of the fake detector, exit
  // kSoakSkipped with a message, or fail (exit 2) under CI=true. The CTest soak sets it.
  bool require_model = false;
};

constexpr int kSoakSkipped = 77;  // CTest's SKIP_RETURN_CODE of bench_soak_3min

// Exit code: 0 every verdict line passed, 1 one failed, 2 the run could not be set up,
// kSoakSkipped (require_model, model missing, not CI).
int run_soak_bench(const SoakBenchOptions& options);

// `orion bench soak-cameras`: the soak's cameras in a process of their own (so the soak's RSS
// and fds are the engine's): `count` test patterns served over RTSP on loopback, one
// "url I URL" line each on stdout, then "stop I" / "start I" commands from stdin, each answered
// "ok"; exits at end of input.
int run_soak_cameras(int count, int width, int height, int fps);

// `orion bench soak-reconnect`: the soak's camera cut alone, on one bare media::Capture (no
// engine, no API): the camera (in a child process) is cut `cycles` times for `cut_s`, and after
// each reconnect (`live_s` of frames) one line: RSS, glibc heap in use and held (mallinfo2),
// RSS after malloc_trim(0) (with `trim`), threads, fds. Tells a leak (heap in use grows) from
// allocator retention (in use flat, RSS grows, trim gives it back).
struct ReconnectProbeOptions {
  int cycles = 20;
  double cut_s = 3;
  double live_s = 3;
  int width = 320, height = 240, fps = 15;
  bool trim = true;
};
int run_soak_reconnect(const ReconnectProbeOptions& options);

}  // namespace orion::bench
