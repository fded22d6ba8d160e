#!/bin/bash
# One full GPU-machine session (what docs/gpu.md's figures come from): build, GPU tests,
# decode/inference benchmark; logs into OUT_DIR. Run from a pack made by pack.sh:
#   PACK/tree/tools/gpu/device_session.sh PACK OUT_DIR [STREAMS (4,8,16,24,32) [bench options...]]
set -uo pipefail
pack=$(cd "$1" && pwd)
out=$2
streams=${3:-4,8,16,24,32}
shift 3 2>/dev/null || shift $#
mkdir -p "$out"
run=$pack/tree/tools/gpu/run.sh
export PYTHONUNBUFFERED=1
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  nproc
  t0=$(date +%s)
  "$run" "$pack" setup > "$out/build.log" 2>&1 || { echo "BUILD FAILED"; grep -E "error|FAILED" "$out/build.log" | head -40; }
  echo "build: $(( $(date +%s) - t0 )) s"; grep "orion gpu:" "$out/build.log"
  "$run" "$pack" models || echo "MODELS FAILED"
  "$run" "$pack" exec gst-inspect-1.0 nvh264dec | head -5
  "$run" "$pack" exec ctest --test-dir "${ORION_GPU_BUILD:-/tmp/orion-gpu-build}" --output-on-failure -j 4 -E gpu_torch_detector_test || echo "TESTS FAILED"
  for t in gpu_torch_detector_test; do
    "$run" "$pack" exec "${ORION_GPU_BUILD:-/tmp/orion-gpu-build}/src/gpu/$t" 2>&1 | grep -E "ACCURACY|TIMING|FAILED|OK \]|SKIPPED" 
  done
  "$run" "$pack" orion bench gpu --clip "$pack/assets/clip_1080p30.mp4" --model "yolov8:$pack/assets/yolov8n.pt" \
    --streams "$streams" --seconds 8 --settle 2 --decode-seconds 5 --json "$out/bench_gpu.json" "$@" 2>&1 |
    grep -v "XDG_RUNTIME_DIR\|GStreamer-WARNING\|^$" || echo "BENCH FAILED"
  date -u
} 2>&1 | tee "$out/session.log"
