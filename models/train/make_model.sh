#!/usr/bin/env bash
# Makes models/pigs-yolov8n.onnx from nothing but this repository: a synthetic dataset from
# `pigweight synth` (stills + frames of x264-encoded videos), YOLOv8n trained from its YAML
# with Ultralytics, exported to ONNX. `make model` runs it. Fixed seeds throughout.
#
#   EPOCHS=20 FINE_EPOCHS=12 IMGSZ=320 TRAIN_IMAGES=2000 DEVICE=cpu models/train/make_model.sh
#
# RESUME=1 continues interrupted training runs from their last finished epoch (the dataset is
# made again, identical: its seeds are fixed).
#
# Training is two stages: EPOCHS from the YOLOv8n YAML (random init), then FINE_EPOCHS more from
# the first stage's best weights at a low learning rate (0.0005, AdamW, no warm-up); with
# FINE_EPOCHS=0 the first stage is the model.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=models/train
work=${WORK:-target/model-train}
epochs=${EPOCHS:-20}
fine_epochs=${FINE_EPOCHS:-12}
imgsz=${IMGSZ:-320}
train_images=${TRAIN_IMAGES:-2000}
val_images=${VAL_IMAGES:-200}
device=${DEVICE:-cpu}
out=${OUT:-models/pigs-yolov8n.onnx}
bin=target/release/pigweight
resume=(); [ "${RESUME:-0}" = 1 ] && resume=(--resume)
# Ultralytics keeps its settings file here, not in the home folder; nothing goes online.
export YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$work/ultralytics-config"

if [ ! -x $here/.venv/bin/python ]; then
  python3 -m venv $here/.venv
fi
if ! $here/.venv/bin/python -c "import ultralytics, onnx, onnxslim" 2>/dev/null; then
  # PyPI's torch is the CUDA build (~3 GB download); it trains on CPU as well.
  $here/.venv/bin/pip install --quiet --disable-pip-version-check -r $here/requirements.txt
fi
cargo build --release --locked --bin pigweight

rm -rf "$work/dataset"
mkdir -p "$work/videos"
started=$(date +%s)
# Stills: every image its own scene (floor, light, coats, sizes, 0-15 pigs, crowding, pigs cut
# by the edges, motion blur on 30%, JPEG quality 40-95).
$bin synth dataset "$work/dataset" --train "$train_images" --val "$val_images" --seed 1
# Frames of encoded videos: x264 artefacts at several quality factors, herds in motion.
# Seeds 101-109 only; the held-out evaluation videos use seeds from 9001.
i=0
for spec in "2,8 23" "6,14 28" "10,18 33" "4,12 38" "8,16 26" "1,5 31" "12,20 35" "5,10 24" "7,13 30"; do
  set -- $spec
  i=$((i + 1))
  seed=$((100 + i))
  video="$work/videos/train_$seed.mp4"
  if [ ! -f "$video" ]; then
    $bin synth video "$video" --width 640 --height 360 --duration 20 --seed $seed \
      --pigs "$1" --pig-length 0.16,0.4 --quality "$2"
  fi
  split=train; [ $i -eq 9 ] && split=val
  $here/.venv/bin/python $here/video_frames.py "$video" "$work/dataset" --split $split --every 10
done
echo "dataset made in $(( $(date +%s) - started )) s"

# The counting operating point goes into the metadata; models/train/tune.sh compares others.
count_point=(--count-conf 0.5 --count-iou 0.5)
if [ "$fine_epochs" -eq 0 ]; then
  $here/.venv/bin/python $here/train.py "$work/dataset/data.yaml" "$out" \
    --imgsz "$imgsz" --epochs "$epochs" --device "$device" --project "$work/runs" --name pigs "${count_point[@]}" "${resume[@]}"
else
  $here/.venv/bin/python $here/train.py "$work/dataset/data.yaml" "$work/stage1.onnx" \
    --imgsz "$imgsz" --epochs "$epochs" --device "$device" --project "$work/runs" --name pigs "${resume[@]}"
  $here/.venv/bin/python $here/train.py "$work/dataset/data.yaml" "$out" \
    --imgsz "$imgsz" --epochs "$fine_epochs" --device "$device" --project "$work/runs" --name pigs-stage2 \
    --start-from "$work/runs/pigs/weights/best.pt" --lr0 0.0005 "${count_point[@]}" "${resume[@]}"
fi
echo "model made in $(( $(date +%s) - started )) s: $out"
