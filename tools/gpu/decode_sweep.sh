#!/bin/bash
# NVDEC decode throughput by number of sessions, decoder element, output memory, processes,
# B-frames and pacing, with GStreamer alone (gst-launch-1.0; no Orion code): which of these
# makes many decoding sessions slower than a few? Run on the GPU machine inside a pack's
# environment (docs/gpu.md):
#   PACK/tree/tools/gpu/run.sh PACK exec bash PACK/tree/tools/gpu/decode_sweep.sh PACK/assets OUT_DIR
# Each case runs P gst-launch processes with B branches each (filesrc ! qtdemux ! h264parse !
# DECODER ! CAPS ! fakesink) over one clip to its end, and prints one row: total frames /
# the slowest process's "Execution ended after" time (fps), that time against the clip's length
# (for paced cases, sync=true: 1.00 = real time held), NVDEC utilisation (nvidia-smi dmon,
# mean of the samples while the case ran) and the CPU cores busy on the machine.
# ORION_SWEEP_CASES selects cases by name (a regex; default all). ORION_SWEEP_DECODER replaces
# every decoder (and makes the memory system memory): e.g. avdec_h264, to try the script on a
# machine without a GPU.
set -uo pipefail
assets=$1
out=$2
mkdir -p "$out"
only=${ORION_SWEEP_CASES:-.}
tsv=$out/sweep.tsv
printf 'case\tprocs\tbranches\tdecoder\tmemory\tclip\tsync\tframes\tseconds\tfps\tfps_per_session\tclip_s_over_run_s\tdec_util_pct\tcpu_cores\n' > "$tsv"

for e in nvh264dec nvh264sldec; do
  gst-inspect-1.0 "$e" > "$out/inspect_$e.txt" 2>&1 || echo "no element $e" >> "$out/inspect_$e.txt"
done

frames_of() {  # frames of H.264 in a clip
  gst-launch-1.0 -v filesrc location="$1" ! qtdemux ! h264parse ! fakesink silent=false 2>/dev/null |
    grep -c 'chain   \*'
}

cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

run_case() {  # NAME PROCS BRANCHES DECODER MEMORY(cuda|system) CLIP SYNC(true|false)
  local name=$1 procs=$2 branches=$3 dec=${ORION_SWEEP_DECODER:-$4} mem=$5 clip=$6 sync=$7
  [ -n "${ORION_SWEEP_DECODER:-}" ] && mem=system
  [[ $name =~ $only ]] || return 0
  local caps='video/x-raw(memory:CUDAMemory),format=NV12'
  [ "$mem" = system ] && caps='video/x-raw,format=NV12'
  [ -n "${ORION_SWEEP_DECODER:-}" ] && caps='video/x-raw'
  local desc=() b p
  for ((b = 0; b < branches; b++)); do
    desc+=(filesrc location="$assets/$clip" ! qtdemux ! h264parse ! "$dec" ! "$caps" ! fakesink sync="$sync")
  done
  nvidia-smi dmon -s u -d 1 > "$out/dmon_$name.txt" 2>/dev/null &
  local dmon=$!
  read -r busy0 total0 < <(cpu_busy)
  local pids=()
  for ((p = 0; p < procs; p++)); do
    gst-launch-1.0 "${desc[@]}" > "$out/case_${name}_$p.log" 2>&1 &
    pids+=($!)
  done
  local failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  read -r busy1 total1 < <(cpu_busy)
  kill "$dmon" 2>/dev/null; wait "$dmon" 2>/dev/null
  local per_clip=${clip_frames[$clip]}
  local secs
  secs=$(grep -h 'Execution ended after' "$out"/case_"${name}"_*.log |
         sed 's/.*after \([0-9]*\):\([0-9]*\):\([0-9.]*\).*/\1 \2 \3/' |
         awk '{t=$1*3600+$2*60+$3; if (t>m) m=t} END{printf "%.3f", m}')
  local dec_util
  dec_util=$(awk '!/^#/ && NF>=5 {s+=$5; n++} END{if (n) printf "%.0f", s/n; else print "-"}' "$out/dmon_$name.txt")
  local cores
  cores=$(awk -v b0="$busy0" -v t0="$total0" -v b1="$busy1" -v t1="$total1" -v n="$(nproc)" \
          'BEGIN{if (t1>t0) printf "%.1f", (b1-b0)/(t1-t0)*n}')
  if [ "$failed" = 1 ] || [ "$secs" = "0.000" ]; then
    printf '%s\tFAILED: %s\n' "$name" "$(grep -h -m1 -i 'error' "$out"/case_"${name}"_*.log | head -1)" | tee -a "$tsv"
    return 0
  fi
  local frames=$((procs * branches * per_clip))
  local sessions=$((procs * branches))
  awk -v n="$name" -v p="$procs" -v b="$branches" -v d="$dec" -v m="$mem" -v c="$clip" -v s="$sync" \
      -v f="$frames" -v t="$secs" -v ns="$sessions" -v len="${clip_seconds[$clip]}" -v u="$dec_util" -v k="$cores" \
      'BEGIN{printf "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%.2f\t%.0f\t%.1f\t%.2f\t%s\t%s\n", n,p,b,d,m,c,s,f,t,f/t,f/t/ns,len/t,u,k}' |
    tee -a "$tsv"
}

declare -A clip_frames clip_seconds
for c in clip_10s_b3.mp4 clip_10s_b0.mp4; do
  clip_frames[$c]=$(frames_of "$assets/$c")
  clip_seconds[$c]=$(awk -v f="${clip_frames[$c]}" 'BEGIN{printf "%.3f", f/30}')
  echo "$c: ${clip_frames[$c]} frames"
done

# Unpaced: how throughput depends on the number of sessions, the element, the memory, processes.
run_case u32 1 32 nvh264dec cuda clip_10s_b3.mp4 false
run_case u64 1 64 nvh264dec cuda clip_10s_b3.mp4 false
run_case u128 1 128 nvh264dec cuda clip_10s_b3.mp4 false
run_case u128_sl 1 128 nvh264sldec cuda clip_10s_b3.mp4 false
run_case u128_sys 1 128 nvh264dec system clip_10s_b3.mp4 false
run_case u128_p8 8 16 nvh264dec cuda clip_10s_b3.mp4 false
run_case u32_nob 1 32 nvh264dec cuda clip_10s_b0.mp4 false
run_case u128_nob 1 128 nvh264dec cuda clip_10s_b0.mp4 false
# Paced (sync=true at the sinks): is real time held (clip_s_over_run_s = 1.00)?
run_case p128 1 128 nvh264dec cuda clip_10s_b3.mp4 true
run_case p128_nob 1 128 nvh264dec cuda clip_10s_b0.mp4 true
run_case p144_nob 1 144 nvh264dec cuda clip_10s_b0.mp4 true
run_case p128_p8 8 16 nvh264dec cuda clip_10s_b3.mp4 true
echo "sweep: $tsv"
cat "$tsv"
