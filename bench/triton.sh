#!/usr/bin/env bash
# Triton benchmark: the Triton backend against in-process ONNX Runtime in the same run
# (crates/inference/benches/triton.rs), HTTP against gRPC with NVIDIA's own client
# (bench/triton_transport.py), on a real tritonserver (scripts/fetch-triton.sh) serving the
# sample model from `pigweight triton-repo --backend python --kind cpu` on loopback ports.
# Writes bench/triton-latest.md.
#
# Knobs: BENCH_REPEATS (batches timed per point, default 30), BENCH_THREADS (in-process ORT
# intra-op threads, default 0 = ORT's choice, as the python backend's onnxruntime),
# BENCH_QUIET_WAIT (seconds to wait for an idle machine).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=bench/.data/triton
FRAMES=bench/.data/inference/frames
VENV=.triton/venv # scripts/fetch-triton.sh: nvidia-pytriton brings NVIDIA's tritonclient
REPEATS=${BENCH_REPEATS:-30}
THREADS=${BENCH_THREADS:-0}
QUIET_WAIT=${BENCH_QUIET_WAIT:-300}
MODEL=models/pigs.onnx
NAME=pigs
# shellcheck source=bench/lib.sh
source bench/lib.sh

scripts/fetch-triton.sh
cargo build --release --locked --bin pigweight
cargo bench --locked -p pigweight-inference --bench triton --no-run

mkdir -p $DATA $FRAMES
if [ ! -f $FRAMES/07.png ]; then # the frames of bench/inference.sh
  target/release/pigweight synth video bench/.data/inference/pen.mp4 --seed 5 --duration 10
  for i in 0 1 2 3 4 5 6 7; do
    target/release/pigweight frame bench/.data/inference/pen.mp4 --index $((i * 31)) -o $FRAMES/0$i.png
  done
fi
rm -rf $DATA/repository
target/release/pigweight triton-repo $DATA/repository --model $MODEL --backend python --kind cpu

read -r HTTP GRPC METRICS < <(python3 -c "
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(('127.0.0.1', 0))
print(*[x.getsockname()[1] for x in s])")
scripts/tritonserver.sh $DATA/repository "$HTTP" "$GRPC" "$METRICS" >$DATA/tritonserver.log 2>&1 &
TRITON=$!
trap 'kill -TERM $TRITON 2>/dev/null; wait $TRITON 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$HTTP/v2/health/ready" >/dev/null; do
  kill -0 $TRITON 2>/dev/null || { cat $DATA/tritonserver.log >&2; exit 1; }
  sleep 0.5
done

wait_quiet 1
log "Triton backend against in-process ONNX Runtime"
cargo bench --locked -q -p pigweight-inference --bench triton -- --frames "$PWD/$FRAMES" \
  --triton "http://127.0.0.1:$HTTP" --model "$PWD/$MODEL" --json "$PWD/$DATA/ours.json" \
  --repeats "$REPEATS" --threads "$THREADS" >/dev/null
log "HTTP against gRPC (tritonclient)"
$VENV/bin/python bench/triton_transport.py "$HTTP" "$GRPC" $NAME --repeats "$REPEATS" >$DATA/transport.json

{
  echo "## Triton benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); no GPU"
  echo "- Server: tritonserver 2.51 (PyPI nvidia-pytriton 0.7.0) on loopback, the sample model from \`pigweight triton-repo --backend python --kind cpu\` (onnxruntime 1.31.1 in the python backend, one CPU instance, dynamic batching); in-process: ONNX Runtime 1.31.1, intra-op threads ${THREADS} (0 = ORT's choice)"
  echo "- Code: $(git rev-parse --short HEAD); frames: 8 of a 1280x720 synthetic pen; ${REPEATS} timed batches per point, the two backends alternating (medians; per image)"
  echo "- Command: \`make bench-triton\` (= \`bench/triton.sh\`); raw JSON in $DATA"
  echo
  python3 - $DATA/ours.json $DATA/transport.json <<'PY'
import json, sys
ours, transport = (json.load(open(p)) for p in sys.argv[1:3])
print("| batch | in-process ms | Triton ms | Triton / in-process throughput | round trip ms | server per image ms (compute) | transport share | bytes per image | counts equal |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in ours["batches"]:
    print(f"| {r['batch']} | {r['ort_ms']:.2f} | {r['triton_ms']:.2f} | {r['triton_over_ort']:.2f}x | {r['triton_round_trip_ms']:.2f} "
          f"| {r['server_request_ms']:.2f} ({r['server_compute_ms']:.2f}) | {100 * r['transport_share']:.1f}% "
          f"| {r['wire_bytes_per_image']:.0f} | {'yes' if r['counts_equal'] else 'NO'} |")
print()
print(f"Interactive requests (one image) while {ours['priorities'][0]['flooders']} other callers keep background batches of 8 queued"
      f" (idle: {ours['idle_probe_ms']:.1f} ms):")
print()
print("| probes asked at | p50 ms | p95 ms | max ms | background batches done meanwhile |")
print("|---|---:|---:|---:|---:|")
for p in ours["priorities"]:
    print(f"| {p['priority'].lower()} priority | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} | {p['max_ms']:.1f} | {p['background_batches']} |")
print()
print("HTTP (binary tensors) against gRPC, NVIDIA's tritonclient, the same uint8 tensor (416x416), round trip medians:")
print()
print("| batch | request bytes | HTTP ms | gRPC ms | gRPC / HTTP |")
print("|---:|---:|---:|---:|---:|")
for t in transport:
    print(f"| {t['batch']} | {t['request_bytes']} | {t['http_ms']:.2f} | {t['grpc_ms']:.2f} | {t['grpc_ms'] / t['http_ms']:.2f} |")
PY
} | tee bench/triton-latest.md
