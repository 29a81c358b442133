#!/usr/bin/env bash
# GPU figures, in one go (under 8 minutes), on a machine with an NVIDIA GPU set up like ours
# (scripts/setup.sh; Rust, GStreamer 1.22):
#
#   bench/gpu.sh [OUT_DIR]          # default bench/.data/gpu; figures for bench/RESULTS.md
#   bench/gpu.sh --dry-run [OUT]    # on a machine without one: every CPU part, GPU parts skipped
#
# 1. The machine: nvidia-smi, and which of GStreamer's NVIDIA elements are registered.
# 2. The CUDA execution provider: ONNX Runtime's CUDA build (scripts/fetch-ort.sh --gpu, or
#    ORT_GPU_LIB=/path/libonnxruntime.so), the inference crate's tests on that library, and
#    the detections of 12 frames on CUDA against the CPU (counts equal, boxes within 0.5 px).
# 3. Throughput at batch 1-64, in-process on CUDA (crates/inference/benches/inference.rs) and
#    through Triton with the ONNX model on the GPU, where a GPU Triton can be had: TRITONSERVER
#    (a tritonserver binary with the onnxruntime backend) or docker with
#    TRITON_IMAGE (default nvcr.io/nvidia/tritonserver:24.10-py3) already pulled.
# 4. GStreamer's NVIDIA decode and encode (nvh264dec, nvh265dec, nvh264enc, nvh265enc) against
#    the software elements on a 1080p clip, where the machine has them.
#
# Every part writes its result or the reason it was skipped to OUT/summary.md; raw figures go
# beside it. A part that fails is recorded as failed and the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
set -a # the parts run in child shells (under timeout): they see every setting below
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
OUT=${1:-bench/.data/gpu}
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
BIN=$PWD/target/release/pigweight
MODEL=$PWD/models/pigs.onnx
WORK=$PWD/bench/.data/gpu-work
REPEATS=${BENCH_REPEATS:-20}
BATCHES=${GPU_BATCHES:-1,2,4,8,16,32,64}
TRITON_IMAGE=${TRITON_IMAGE:-nvcr.io/nvidia/tritonserver:24.10-py3}
[ $DRY = 1 ] && { REPEATS=${BENCH_REPEATS:-3}; BATCHES=${GPU_BATCHES:-1,8}; }
mkdir -p "$WORK"
SUMMARY=$OUT/summary.md
STARTED=$SECONDS
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
# part NAME TIMEOUT_S COMMAND...: runs one part under a time limit, records how it ended.
part() {
  local name=$1 limit=$2
  shift 2
  echo "== $name" >&2
  local t0=$SECONDS rc
  timeout "$limit" bash -c '"$@"' _ "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  case $rc in
    0) note "- $name: ok ($((SECONDS - t0)) s)" ;;
    124) note "- $name: FAILED: over its ${limit} s ($OUT/$name.log)" ;;
    *) note "- $name: FAILED (exit $rc; $OUT/$name.log): $(tail -3 "$OUT/$name.log" | tr '\n' ' ' | cut -c1-300)" ;;
  esac
  return $rc
}
skip() { note "- $1: skipped: $2"; }

GPU=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then GPU=1; fi
if [ $GPU = 0 ] && [ $DRY = 0 ]; then
  echo "bench/gpu.sh: no NVIDIA GPU here (nvidia-smi -L fails); --dry-run runs the CPU parts" >&2
  exit 2
fi
DEVICE=cpu
[ $GPU = 1 ] && DEVICE=cuda

note "# GPU run, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
note ""
{
  if [ $GPU = 1 ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  else echo "no GPU (dry run: the CPU stands in for CUDA)"; fi
  echo "CPU: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  for e in nvh264dec nvh265dec nvh264enc nvh265enc nvjpegenc; do
    if gst-inspect-1.0 --exists "$e" 2>/dev/null; then echo "gstreamer $e: yes"; else echo "gstreamer $e: no"; fi
  done
} >"$OUT/machine.txt"
note "Machine:"
sed 's/^/    /' "$OUT/machine.txt" | tee -a "$SUMMARY"
note ""

# Builds (not timed against the 8 minutes' parts).
cargo build --release --locked --bin pigweight >&2 || exit 1
cargo bench --locked -p pigweight-inference --bench inference --no-run >&2 || exit 1
cargo bench --locked -p pigweight-inference --bench triton --no-run >&2 || exit 1
FRAMES=$WORK/frames
if [ ! -f "$FRAMES/11.png" ]; then
  mkdir -p "$FRAMES"
  "$BIN" synth video "$WORK/pen.mp4" --seed 5 --duration 10 2>/dev/null
  for i in $(seq 0 11); do
    "$BIN" frame "$WORK/pen.mp4" --index $((i * 20)) -o "$FRAMES/$(printf %02d "$i").png" 2>/dev/null
  done
fi

# 2. The CUDA execution provider.
ORT_GPU_LIB=${ORT_GPU_LIB:-}
if [ $GPU = 1 ] && [ -z "$ORT_GPU_LIB" ]; then
  part fetch-ort-gpu 600 scripts/fetch-ort.sh --gpu && ORT_GPU_LIB=$PWD/.ort-gpu/lib/libonnxruntime.so
fi
if [ -n "$ORT_GPU_LIB" ]; then
  export LD_LIBRARY_PATH="$(dirname "$ORT_GPU_LIB")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  LIB=$ORT_GPU_LIB
else
  LIB=$PWD/.ort/lib/libonnxruntime.so
  [ $GPU = 1 ] && skip cuda "no CUDA build of ONNX Runtime (scripts/fetch-ort.sh --gpu failed; set ORT_GPU_LIB)"
fi
export ORT_DYLIB_PATH=$LIB
part inference-tests 240 cargo test --locked -q -p pigweight-inference

same_on_device() {
  local worst=0
  for i in $(seq 0 11); do
    "$BIN" detect "$WORK/pen.mp4" --index $((i * 20)) --ort-lib "$LIB" --device cpu >"$WORK/cpu-$i.json" 2>/dev/null || return 1
    "$BIN" detect "$WORK/pen.mp4" --index $((i * 20)) --ort-lib "$LIB" --device "$DEVICE" >"$WORK/dev-$i.json" 2>/dev/null || return 1
  done
  python3 - "$WORK" <<'PY'
import json, sys, glob
work = sys.argv[1]
worst, frames = 0.0, 0
for i in range(12):
    a, b = (json.load(open(f"{work}/{k}-{i}.json")) for k in ("cpu", "dev"))
    assert a["count"] == b["count"], f"frame {i}: count {a['count']} on the CPU, {b['count']} on the device"
    for p, q in zip(a["detections"], b["detections"]):
        worst = max(worst, max(abs(x - y) for x, y in zip(p["box"], q["box"])))
    frames += 1
assert worst <= 0.5, f"boxes differ by {worst:.3f} px"
print(f"{frames} frames: counts equal, boxes within {worst:.4f} px")
PY
}
export -f same_on_device
if [ -n "$ORT_GPU_LIB" ] || [ $DRY = 1 ]; then
  part cuda-equals-cpu 120 same_on_device && note "  $(tail -1 "$OUT/cuda-equals-cpu.log")"
fi

# 3. Throughput at batch 1-64, in process.
if [ -n "$ORT_GPU_LIB" ] || [ $DRY = 1 ]; then
  part throughput-in-process 180 cargo bench --locked -q -p pigweight-inference --bench inference -- \
    --frames "$FRAMES" --json "$OUT/in-process.json" --repeats "$REPEATS" --batches "$BATCHES" \
    --device "$DEVICE" "$MODEL" &&
    python3 -c "
import json, sys
r = json.load(open('$OUT/in-process.json'))
print('  in process on', r['device'] + ':', ', '.join(f\"batch {b['batch']} {b['images_per_s']:.0f} img/s\" for b in r['batches']))
" | tee -a "$SUMMARY"
fi

# ... and through Triton with the model on the GPU (or, dry, the python backend on the CPU).
start_triton() { # REPO: sets TRITON_PID and TRITON_URL; returns once ready
  local http grpc metrics
  read -r http grpc metrics < <(python3 -c "
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(('127.0.0.1', 0))
print(*[x.getsockname()[1] for x in s])")
  TRITON_URL=http://127.0.0.1:$http
  if [ $DRY = 1 ]; then
    scripts/tritonserver.sh "$1" "$http" "$grpc" "$metrics" >"$OUT/tritonserver.log" 2>&1 &
  elif [ -n "${TRITONSERVER:-}" ]; then
    "$TRITONSERVER" --model-repository "$1" --http-address 127.0.0.1 --http-port "$http" \
      --grpc-port "$grpc" --metrics-port "$metrics" >"$OUT/tritonserver.log" 2>&1 &
  else
    docker run --rm --gpus all --network host -v "$1:/models" "$TRITON_IMAGE" tritonserver \
      --model-repository=/models --http-address 127.0.0.1 --http-port "$http" --grpc-port "$grpc" \
      --metrics-port "$metrics" >"$OUT/tritonserver.log" 2>&1 &
  fi
  TRITON_PID=$!
  for _ in $(seq 1 240); do
    curl -sf "$TRITON_URL/v2/health/ready" >/dev/null && return 0
    kill -0 $TRITON_PID 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
triton_throughput() {
  local repo=$WORK/repository kind=(--kind gpu) backend=(--backend onnxruntime)
  [ $DRY = 1 ] && { kind=(--kind cpu); backend=(--backend python); scripts/fetch-triton.sh || return 1; }
  rm -rf "$repo"
  "$BIN" triton-repo "$repo" --model "$MODEL" --max-batch 64 "${kind[@]}" "${backend[@]}" || return 1
  start_triton "$repo" || { cat "$OUT/tritonserver.log"; return 1; }
  cargo bench --locked -q -p pigweight-inference --bench triton -- --frames "$FRAMES" \
    --triton "$TRITON_URL" --model "$MODEL" --json "$OUT/triton.json" --repeats "$REPEATS" \
    --batches "$BATCHES" --device "$DEVICE" --probes 10
  local rc=$?
  kill -TERM $TRITON_PID 2>/dev/null
  wait $TRITON_PID 2>/dev/null
  return $rc
}
export -f start_triton triton_throughput
if [ $DRY = 1 ] || { [ -n "${TRITONSERVER:-}" ] || docker image inspect "$TRITON_IMAGE" >/dev/null 2>&1; }; then
  part throughput-triton 240 triton_throughput &&
    python3 -c "
import json
r = json.load(open('$OUT/triton.json'))
for b in r['batches']:
    print(f\"  batch {b['batch']}: Triton {b['triton_images_per_s']:.0f} img/s, in process {b['ort_images_per_s']:.0f} ({b['triton_over_ort']:.2f}x), transport {100 * b['transport_share']:.0f}%\")
p = r['priorities']
print(f\"  interactive under background load: p50 {p[0]['p50_ms']:.1f} ms (background priority: {p[1]['p50_ms']:.1f} ms)\")
" | tee -a "$SUMMARY"
else
  skip throughput-triton "no GPU Triton: set TRITONSERVER, or docker pull $TRITON_IMAGE"
fi

# 4. GStreamer's NVIDIA decode and encode against the software elements.
codecs() {
  local clip=$WORK/pen1080.mp4 hevc=$WORK/pen1080-h265.mp4
  [ -f "$clip" ] || "$BIN" synth video "$clip" --seed 6 --duration 20 --width 1920 --height 1080 2>/dev/null || return 1
  if [ ! -f "$hevc" ]; then
    gst-launch-1.0 -q filesrc location="$clip" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! \
      x265enc speed-preset=ultrafast ! h265parse ! mp4mux ! filesink location="$hevc" || return 1
  fi
  time_it() { # LABEL PIPELINE...
    local t0 t1
    t0=$(date +%s.%N)
    gst-launch-1.0 -q "${@:2}" || { echo "$1: failed"; return 0; }
    t1=$(date +%s.%N)
    python3 -c "print(f'$1: {500 / ($t1 - $t0):.0f} fps (500 frames 1080p)')"
  }
  local dec
  for dec in avdec_h264 nvh264dec; do
    gst-inspect-1.0 --exists $dec || { echo "$dec: not on this machine"; continue; }
    time_it "decode H.264 $dec" filesrc location="$clip" ! qtdemux ! h264parse ! $dec ! fakesink sync=false
  done
  for dec in avdec_h265 nvh265dec; do
    gst-inspect-1.0 --exists $dec || { echo "$dec: not on this machine"; continue; }
    time_it "decode H.265 $dec" filesrc location="$hevc" ! qtdemux ! h265parse ! $dec ! fakesink sync=false
  done
  local enc
  for enc in "x264enc speed-preset=veryfast" nvh264enc "x265enc speed-preset=veryfast" nvh265enc; do
    gst-inspect-1.0 --exists "${enc%% *}" || { echo "${enc%% *}: not on this machine"; continue; }
    # shellcheck disable=SC2086
    time_it "encode ${enc%% *}" videotestsrc num-buffers=500 pattern=ball ! \
      video/x-raw,width=1920,height=1080,framerate=25/1 ! videoconvert ! $enc ! fakesink sync=false
  done
}
export -f codecs
part codecs 180 codecs && sed 's/^/  /' "$OUT/codecs.log" | tee -a "$SUMMARY"

note ""
note "Total: $((SECONDS - STARTED)) s; raw figures in $OUT"
