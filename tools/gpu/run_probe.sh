#!/bin/bash
# LibTorch probe (issue 13): convert the two ONNX detectors to TorchScript, check them against
# onnxruntime, then check their detections and time them on the GPU. See docs/gpu.md.
#
# Usage: tools/gpu/run_probe.sh ASSETS_DIR OUT_DIR [bench_torch.py options, e.g. --cuda-graph]
# ASSETS_DIR holds yolov8n.onnx, yolox_nano.onnx, bus.jpg and zidane.jpg (../shared/assets).
set -u -o pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 ASSETS_DIR OUT_DIR [bench_torch.py options]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
assets=$1
out=$2
shift 2
for f in yolov8n.onnx yolox_nano.onnx bus.jpg zidane.jpg; do
  [ -f "$assets/$f" ] || { echo "error: $assets/$f not found" >&2; exit 2; }
done
mkdir -p "$out" || exit 2
export PYTHONUNBUFFERED=1
rc=0
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  for m in yolov8n yolox_nano; do
    python3 "$here/onnx_to_torch.py" "$assets/$m.onnx" "$out/$m.pt" || rc=1
  done
  python3 "$here/bench_torch.py" --kind yolov8 --ts "$out/yolov8n.pt" --images "$assets" \
    --json "$out/bench_yolov8n.json" "$@" || rc=1
  python3 "$here/bench_torch.py" --kind yolox --ts "$out/yolox_nano.pt" --images "$assets" \
    --json "$out/bench_yolox_nano.json" "$@" || rc=1
  exit $rc
} 2>&1 | tee "$out/log.txt"
