#!/bin/bash
# One full GPU-machine session (what docs/gpu.md's figures come from): build, GPU tests,
# decode/inference benchmark; logs into OUT_DIR. Run from a pack made by pack.sh:
#   PACK/tree/tools/gpu/device_session.sh PACK OUT_DIR [STREAMS (4,8,16,24,32) [bench options...]]
# Variables: ORION_GPU_TARGETS, ORION_GPU_MODELS, ORION_WERROR (tools/gpu/run.sh: what to build
# and convert); ORION_GPU_TESTS (test executables of the build to run, instead of ctest and the
# accuracy test); ORION_BENCH_TIMES (default "--seconds 8 --settle 2 --decode-seconds 5");
# ORION_SESSION_LIMIT_S (the whole session's time: the bench is stopped 5 s before it ends, so
# the logs are complete); ORION_DECODE_SWEEP=1 runs tools/gpu/decode_sweep.sh before the bench
# (its cases: ORION_SWEEP_CASES); ORION_BENCH_CLIP (an asset of the pack, default clip_1080p30.mp4).
set -uo pipefail
pack=$(cd "$1" && pwd)
out=$2
streams=${3:-4,8,16,24,32}
shift 3 2>/dev/null || shift $#
mkdir -p "$out"
run=$pack/tree/tools/gpu/run.sh
build=${ORION_GPU_BUILD:-/tmp/orion-gpu-build}
times=${ORION_BENCH_TIMES:---seconds 8 --settle 2 --decode-seconds 5}
limit=${ORION_SESSION_LIMIT_S:-3600}
start=$(date +%s)
export PYTHONUNBUFFERED=1
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  nproc
  "$run" "$pack" unpack || echo "UNPACK FAILED"
  # Models and GStreamer's plugin registry while the build runs.
  ( "$run" "$pack" models > "$out/models.log" 2>&1 || echo "MODELS FAILED" >> "$out/models.log"
    "$run" "$pack" exec gst-inspect-1.0 nvh264dec 2>&1 | head -5 >> "$out/models.log" ) &
  bg=$!
  "$run" "$pack" setup > "$out/build.log" 2>&1 || { echo "BUILD FAILED"; grep -E "error|FAILED" "$out/build.log" | head -40; }
  echo "build: $(( $(date +%s) - start )) s"; grep "orion gpu:" "$out/build.log"
  grep -c "warning:" "$out/build.log" | sed 's/^/compiler warnings: /'
  wait "$bg"
  tail -8 "$out/models.log"
  echo "models + build: $(( $(date +%s) - start )) s"
  if [ -n "${ORION_GPU_TESTS:-}" ]; then
    for t in $ORION_GPU_TESTS; do
      timeout 90 "$run" "$pack" exec "$build/src/gpu/$t" >> "$out/tests.log" 2>&1 || echo "TEST $t FAILED (rc $?)"
    done
    grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure|Skipped|^\[       OK|error" "$out/tests.log" | head -40
  else
    "$run" "$pack" exec ctest --test-dir "$build" --output-on-failure -j 4 -E gpu_torch_detector_test || echo "TESTS FAILED"
    "$run" "$pack" exec "$build/src/gpu/gpu_torch_detector_test" 2>&1 | grep -E "ACCURACY|TIMING|FAILED|OK \]|SKIPPED"
  fi
  echo "tests done: $(( $(date +%s) - start )) s"
  if [ "${ORION_DECODE_SWEEP:-0}" = 1 ]; then
    "$run" "$pack" exec bash "$pack/tree/tools/gpu/decode_sweep.sh" "$pack/assets" "$out/sweep" 2>&1 |
      grep -v "XDG_RUNTIME_DIR\|GStreamer-WARNING\|^$" || echo "SWEEP FAILED"
    echo "sweep done: $(( $(date +%s) - start )) s"
  fi
  left=$(( limit - ($(date +%s) - start) - 5 ))
  echo "bench gets ${left} s"
  # shellcheck disable=SC2086
  timeout "$left" "$run" "$pack" orion bench gpu --clip "$pack/assets/${ORION_BENCH_CLIP:-clip_1080p30.mp4}" \
    --model "yolov8:$pack/assets/yolov8n.pt" --streams "$streams" $times \
    --json "$out/bench_gpu.json" "$@" 2>&1 |
    grep --line-buffered -v "XDG_RUNTIME_DIR\|GStreamer-WARNING\|^$" || echo "BENCH FAILED OR STOPPED"
  echo "session: $(( $(date +%s) - start )) s"
  date -u
} 2>&1 | tee "$out/session.log"
