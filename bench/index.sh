#!/usr/bin/env bash
# Indexer benchmark (crates/indexer/benches/index.rs): a 10-minute 1280x720 synthetic pen
# indexed from scratch with the shipped pig model (speed per pass as multiples of real time,
# time to the first full timeline, database size per hour), and query latency on a synthetic
# 10-hour index. Writes bench/index-latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=bench/.data/index
mkdir -p $DATA
cargo build --release --locked --bin pigweight
if [ ! -f $DATA/pen-10min.mp4 ]; then
  target/release/pigweight synth video $DATA/pen-10min.mp4 --seed 11 --duration 600
fi
cargo bench --locked -q -p pigweight-indexer --bench index -- --model "$PWD/models/pigs.onnx" \
  --db "$PWD/$DATA" "$PWD/$DATA/pen-10min.mp4" | tee bench/index-latest.json
