#!/usr/bin/env bash
# Chooses the counting operating point (input size, confidence, NMS IoU) of a model on tuning
# videos (seeds 8001-8003: a pen like the sample's, a crowded one, a far camera) that neither
# training nor the held-out evaluation (evaluate.sh, seeds 9001-9004) uses. Prints one line per
# point: size conf iou, then exact-count rate, count MAE and bias pooled over the videos.
#
#   models/train/tune.sh [MODEL] [SIZES] [CONFS] [IOUS]
#   e.g. models/train/tune.sh models/pigs.onnx "320 384 416 448" "0.5 0.55" "0.5"
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-models/pigs.onnx}
sizes=${2:-320 384 416 448 480}
confs=${3:-0.5}
ious=${4:-0.5}
# shellcheck source=models/train/lib.sh
source models/train/lib.sh
synth_videos "${WORK:-target/model-tune}" <<'LIST'
default 8001 6,12 0.22,0.32 23
crowded 8002 12,20 0.2,0.3 23
far 8003 8,16 0.14,0.2 23
LIST
for size in $sizes; do
  for conf in $confs; do
    for iou in $ious; do
      $bin eval "${videos[@]}" --model "$model" --every 5 --conf "$conf" --iou "$iou" \
        --input-size "$size" | python3 -c "
import json, sys
s = json.load(sys.stdin)['summary']
print('$size $conf $iou', round(s['exact_count_rate'], 4), round(s['count_mae'], 3), round(s['count_bias'], 3))"
    done
  done
done
