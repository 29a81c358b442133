#!/usr/bin/env bash
# Inference benchmark: our detector (crates/inference/benches/inference.rs) and the Python
# prototype's approach (bench/inference_reference.py: onnxruntime + cv2/numpy) in the same run,
# on the same models and the same frames, one after the other (never at once: 2 cores).
#
# Models: YOLOv8n with random weights exported at 320 and 640 (bench/export_yolov8n.py, run in
# the training venv of models/train), and the shipped pig detector. Frames: 8 frames of a
# 1280x720 synthetic pen. Writes bench/inference-latest.md.
#
# Knobs: BENCH_REPEATS (batches timed per point, default 30), BENCH_THREADS (ORT intra-op
# threads, default 0 = ORT's choice), BENCH_QUIET_WAIT (seconds to wait for an idle machine).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=bench/.data/inference
VENV=bench/.venv
REPEATS=${BENCH_REPEATS:-30}
THREADS=${BENCH_THREADS:-0}
QUIET_WAIT=${BENCH_QUIET_WAIT:-300}
PINS=(opencv-python-headless==4.14.0.94 numpy==2.4.6 onnxruntime==1.31.1)
# shellcheck source=bench/lib.sh
source bench/lib.sh

if [ ! -x $VENV/bin/python ]; then python3 -m venv $VENV; fi
if ! $VENV/bin/python -c "import cv2, numpy, onnxruntime" 2>/dev/null; then
  $VENV/bin/pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi
cargo build --release --locked --bin pigweight
cargo bench --locked -p pigweight-inference --bench inference --no-run

mkdir -p $DATA/frames
if [ ! -f $DATA/yolov8n-640.onnx ]; then
  if [ ! -x models/train/.venv/bin/python ]; then
    python3 -m venv models/train/.venv
    models/train/.venv/bin/pip install --quiet --disable-pip-version-check -r models/train/requirements.txt
  fi
  (cd $DATA && YOLO_CONFIG_DIR=$PWD/ultralytics-config ../../../models/train/.venv/bin/python \
    ../../export_yolov8n.py . 320 640)
fi
if [ ! -f $DATA/frames/07.png ]; then
  target/release/pigweight synth video $DATA/pen.mp4 --seed 5 --duration 10
  for i in 0 1 2 3 4 5 6 7; do
    target/release/pigweight frame $DATA/pen.mp4 --index $((i * 31)) -o $DATA/frames/0$i.png
  done
fi
MODELS=("$PWD/$DATA/yolov8n-320.onnx" "$PWD/$DATA/yolov8n-640.onnx" "$PWD/models/pigs.onnx")


wait_quiet 1
log "ours"
cargo bench --locked -q -p pigweight-inference --bench inference -- --frames "$PWD/$DATA/frames" \
  --json "$PWD/$DATA/ours.json" --repeats "$REPEATS" --threads "$THREADS" "${MODELS[@]}" >/dev/null
log "reference (Python onnxruntime + cv2/numpy)"
$VENV/bin/python bench/inference_reference.py --frames $DATA/frames --json $DATA/reference.json \
  --repeats "$REPEATS" --threads "$THREADS" "${MODELS[@]}" >/dev/null

{
  echo "## Inference benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); ONNX Runtime 1.31.1 on the CPU, intra-op threads ${THREADS} (0 = ORT's choice), no spinning, on both sides"
  echo "- Code: $(git rev-parse --short HEAD); frames: 8 of a 1280x720 synthetic pen; ${REPEATS} timed batches per point (medians; per image)"
  echo "- Command: \`make bench-inference\` (= \`bench/inference.sh\`); raw JSON in $DATA"
  echo
  $VENV/bin/python - $DATA/ours.json $DATA/reference.json <<'PY'
import json, sys
ours, ref = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda r: (r["model"], r["batch"])
theirs = {key(r): r for r in ref["batches"]}
print("| model | input | batch | pre ms | run ms | post ms | (pre+post)/run | ours img/s | Python img/s | ratio |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in ours["batches"]:
    t = theirs[key(r)]
    print(f"| {r['model']} | {r['input'][0]}x{r['input'][1]} | {r['batch']} | {r['preprocess_ms']:.2f} | {r['run_ms']:.2f} "
          f"| {r['postprocess_ms']:.3f} | {100 * r['overhead']:.1f}% | {r['images_per_s']:.1f} | {t['images_per_s']:.1f} "
          f"| {r['images_per_s'] / t['images_per_s']:.2f}x |")
print()
print("Python side, per image:")
print()
print("| model | batch | pre ms | run ms | post ms | (pre+post)/run |")
print("|---|---:|---:|---:|---:|---:|")
for t in ref["batches"]:
    print(f"| {t['model']} | {t['batch']} | {t['preprocess_ms']:.2f} | {t['run_ms']:.2f} | {t['postprocess_ms']:.3f} | {100 * t['overhead']:.1f}% |")
print()
print("Through our scheduler (background priority, max batch 8, 96 images):")
print()
for s in ours["scheduler"]:
    sizes = {i: n for i, n in enumerate(s["batch_sizes"]) if n}
    print(f"- {s['model']}: {s['images_per_s']:.1f} images/s; batches by size {sizes}")
PY
} | tee bench/inference-latest.md
