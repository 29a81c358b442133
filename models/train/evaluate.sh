#!/usr/bin/env bash
# Scores a model on held-out synthetic videos (seeds 9001-9004, never used for training) through
# the real pipeline (decode -> inference -> count), against their ground truth. Prints the
# pooled and per-video figures as JSON (models/README.md quotes them).
#
#   models/train/evaluate.sh [MODEL]
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-models/pigs.onnx}
# shellcheck source=models/train/lib.sh
source models/train/lib.sh
# name seed pigs pig-length quality: the sample's settings, a crowded pen, a far camera, a near
# camera with heavy compression.
synth_videos "${WORK:-target/model-eval}" <<'LIST'
default 9001 6,12 0.22,0.32 23
crowded 9002 12,20 0.2,0.3 23
far 9003 8,16 0.14,0.2 23
near 9004 3,8 0.3,0.42 32
LIST
$bin eval "${videos[@]}" --model "$model" --every 5
