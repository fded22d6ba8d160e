#!/bin/bash
# Packs what a GPU host without GStreamer needs to build and run Orion's GPU path into one
# folder (docs/gpu.md "Pack and run"): the sources (tracked and untracked-not-ignored files of
# this checkout), the Debian 12 packages of tools/gpu/debs.txt (apt-get download), and the
# assets the GPU tests and `orion bench gpu` use (models, images, a 1080p30 H.264 clip made by
# tools/gpu/make_clip.sh). Refuses to write a pack over 64 MiB.
#
# Usage: tools/gpu/pack.sh OUT_DIR [ASSETS_DIR (default ../shared/assets)]
# Then, on the GPU host: OUT_DIR/tree/tools/gpu/run.sh OUT_DIR setup; ... run.sh OUT_DIR orion ...
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [ASSETS_DIR]" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
assets=${2:-$root/../shared/assets}
limit=$((64 * 1024 * 1024))
for f in yolov8n.onnx yolox_nano.onnx bus.jpg zidane.jpg coco.names vtest_480x360.mp4 \
         one-by-one-person-detection.mp4; do
  [ -f "$assets/$f" ] || { echo "error: asset $assets/$f not found" >&2; exit 2; }
done
mkdir -p "$out/tree" "$out/debs" "$out/assets"
out=$(cd "$out" && pwd)

# Sources: what git would commit here, without build folders.
rm -rf "$out/tree"
mkdir -p "$out/tree"
(cd "$root" && git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf -) | tar -xf - -C "$out/tree"

# Debian packages (only the ones not there yet).
mapfile -t pkgs < <(grep -v '^#' "$root/tools/gpu/debs.txt" | grep -v '^ *$')
missing=()
for p in "${pkgs[@]}"; do
  ls "$out/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  (cd "$out/debs" && apt-get download "${missing[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
fi
for p in "${pkgs[@]}"; do
  ls "$out/debs/${p}_"*.deb >/dev/null 2>&1 || { echo "error: package $p was not downloaded" >&2; exit 1; }
done

# Assets (+ the 1080p30 clip of `orion bench gpu`).
for f in yolov8n.onnx yolox_nano.onnx bus.jpg zidane.jpg coco.names vtest_480x360.mp4; do
  cp -u "$assets/$f" "$out/assets/"
done
[ -f "$out/assets/clip_1080p30.mp4" ] ||
  bash "$root/tools/gpu/make_clip.sh" "$assets/one-by-one-person-detection.mp4" "$out/assets/clip_1080p30.mp4"
# Two 10 s clips for tools/gpu/decode_sweep.sh: with B-frames (as above) and without.
[ -f "$out/assets/clip_10s_b3.mp4" ] ||
  bash "$root/tools/gpu/make_clip.sh" "$assets/one-by-one-person-detection.mp4" "$out/assets/clip_10s_b3.mp4" 10 3
[ -f "$out/assets/clip_10s_b0.mp4" ] ||
  bash "$root/tools/gpu/make_clip.sh" "$assets/one-by-one-person-detection.mp4" "$out/assets/clip_10s_b0.mp4" 10 0

size=$(du -sb "$out" | cut -f1)
echo "pack $out: $((size / 1024 / 1024)) MiB ($(ls "$out/debs" | wc -l) packages)"
if [ "$size" -gt "$limit" ]; then
  echo "error: the pack is over 64 MiB" >&2
  exit 1
fi
