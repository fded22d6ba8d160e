#!/bin/bash
# Makes the clip of `orion bench gpu`: 1920x1080, 30 fps, H.264 High 8-bit 4:2:0 (what NVDEC on
# an H100/H200 decodes), 1 s GOP, ~4 Mbit/s, 20 s, no audio, from an asset video (default
# one-by-one-person-detection.mp4: people walking, 768x432 10 fps, scaled up and re-timed).
#
# Usage: tools/gpu/make_clip.sh SOURCE.mp4 OUT.mp4 [SECONDS (20)] [BFRAMES (x264's default, 3)]
# BFRAMES 0 makes a clip without B-frames (every picture is output as soon as it is decoded).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 SOURCE.mp4 OUT.mp4 [SECONDS]" >&2
  exit 2
fi
src=$1
out=$2
secs=${3:-20}
bframes=${4:-3}
[ -f "$src" ] || { echo "error: $src not found" >&2; exit 2; }
ffmpeg -hide_banner -loglevel error -y -i "$src" -t "$secs" -an \
  -vf "scale=1920:1080:flags=bicubic,fps=30" -pix_fmt yuv420p \
  -c:v libx264 -profile:v high -preset veryfast -b:v 4M -maxrate 5M -bufsize 8M \
  -bf "$bframes" -g 30 -keyint_min 30 -sc_threshold 0 -movflags +faststart "$out"
echo "clip $out: $(stat -c %s "$out") bytes"
