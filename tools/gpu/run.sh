#!/bin/bash
# Runs Orion's GPU path on a GPU host without GStreamer, from a folder made by pack.sh
# (docs/gpu.md "Pack and run"). Unpacks the Debian packages into a private prefix with
# `dpkg -x` (nothing is installed into the system), builds the GPU-only orion there
# (-DORION_GPU_ONLY=ON, LibTorch from the torch Python package) and runs commands with
# PATH, LD_LIBRARY_PATH and GStreamer's variables pointing into the prefix.
#
# Usage: run.sh PACK_DIR unpack                unpack the Debian packages only (idempotent)
#        run.sh PACK_DIR setup                 unpack + configure + build (idempotent)
#        run.sh PACK_DIR models                ONNX assets -> TorchScript (.pt) + images as PPM
#        run.sh PACK_DIR orion ARGS...         run the built orion
#        run.sh PACK_DIR exec COMMAND ARGS...  run any command in that environment (ctest, gst-inspect-1.0)
#        run.sh PACK_DIR env                   print the environment as shell exports
# Variables: ORION_GPU_PREFIX (default /tmp/orion-gpu-prefix), ORION_GPU_BUILD (default
# /tmp/orion-gpu-build), ORION_TORCH_DIR (default: the folder of python3's torch package),
# ORION_GPU_TARGETS (setup builds only these targets; default all), ORION_GPU_MODELS (models
# converts only these; default "yolov8n yolox_nano"), ORION_WERROR (OFF: warnings of a
# compiler the project was not built with here do not stop the build; default ON).
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
pack=$(cd "$1" && pwd)
verb=$2
shift 2
prefix=${ORION_GPU_PREFIX:-/tmp/orion-gpu-prefix}
build=${ORION_GPU_BUILD:-/tmp/orion-gpu-build}
arch=x86_64-linux-gnu
[ -d "$pack/tree" ] && [ -d "$pack/debs" ] || { echo "error: $pack is not a pack (tree/, debs/)" >&2; exit 2; }

torch_dir() {
  if [ -n "${ORION_TORCH_DIR:-}" ]; then echo "$ORION_TORCH_DIR"; return; fi
  python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null ||
    { echo "error: no torch Python package (set ORION_TORCH_DIR)" >&2; exit 1; }
}

unpack() {
  if [ -f "$prefix/.unpacked" ] && [ "$prefix/.unpacked" -nt "$pack/debs" ]; then return; fi
  mkdir -p "$prefix"
  for d in "$pack"/debs/*.deb; do dpkg -x "$d" "$prefix"; done
  touch "$prefix/.unpacked"
}

run_env() {
  local t
  t=$(torch_dir)
  export PATH="$prefix/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$prefix/usr/lib/$arch:$prefix/lib/$arch:$t/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export GST_PLUGIN_SYSTEM_PATH="$prefix/usr/lib/$arch/gstreamer-1.0"
  export GST_PLUGIN_PATH="$prefix/usr/lib/$arch/gstreamer-1.0"
  export GST_PLUGIN_SCANNER="$prefix/usr/lib/$arch/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner"
  export GST_REGISTRY="${GST_REGISTRY:-/tmp/orion-gst-registry-$(id -u).bin}"
  export ORION_ASSETS="${ORION_ASSETS:-$pack/assets}"
  # gstgl probes a display at plugin load; a private runtime dir keeps it quiet.
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/orion-xdg-$(id -u)}"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
}

case "$verb" in
  unpack)
    unpack
    ;;
  setup)
    unpack
    t=$(torch_dir)
    nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    [ -x "$nvcc" ] || { echo "error: nvcc not found" >&2; exit 1; }
    cmake -S "$pack/tree" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DORION_GPU_ONLY=ON -DORION_GPU=ON -DCMAKE_CUDA_COMPILER="$nvcc" -DORION_TORCH_DIR="$t" \
      -DCMAKE_PREFIX_PATH="$prefix/usr" -DORION_WERROR="${ORION_WERROR:-ON}" \
      -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$prefix/usr/lib/$arch:$prefix/lib/$arch"
    targets=()
    for t in ${ORION_GPU_TARGETS:-}; do targets+=(--target "$t"); done
    cmake --build "$build" -j "$(nproc)" "${targets[@]}" -- -k 0
    ;;
  models)
    run_env
    a=$pack/assets
    for m in ${ORION_GPU_MODELS:-yolov8n yolox_nano}; do
      [ -f "$a/$m.pt" ] || python3 "$pack/tree/tools/gpu/onnx_to_torch.py" "$a/$m.onnx" "$a/$m.pt"
    done
    python3 - "$a" <<'PY'
import sys, cv2
d = sys.argv[1]
for n in ("bus", "zidane"):
    bgr = cv2.imread(f"{d}/{n}.jpg", cv2.IMREAD_COLOR)
    h, w = bgr.shape[:2]
    with open(f"{d}/{n}.ppm", "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(bgr[:, :, ::-1].tobytes())
PY
    ;;
  orion)
    run_env
    exec "$build/orion" "$@"
    ;;
  exec)
    run_env
    exec "$@"
    ;;
  env)
    run_env
    for v in PATH LD_LIBRARY_PATH GST_PLUGIN_SYSTEM_PATH GST_PLUGIN_PATH GST_PLUGIN_SCANNER GST_REGISTRY ORION_ASSETS; do
      printf 'export %s=%q\n' "$v" "${!v}"
    done
    ;;
  *)
    echo "error: unknown verb '$verb' (setup, models, orion, exec, env)" >&2
    exit 2
    ;;
esac
