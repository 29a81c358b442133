#!/usr/bin/env bash
# Load figures for the API (issue 6), with wrk (Debian's package) against the release binary on
# this machine: count_at_time on an indexed video, a cached frame, a cold exact 1080p frame.
# Prints a Markdown table; figures go into bench/RESULTS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
QUIET_WAIT=${QUIET_WAIT:-120}
DURATION=${DURATION:-10}

command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -p pigweight-server >&2
BIN=target/release/pigweight
WORK=bench/.data/api
mkdir -p "$WORK/videos"
[ -f "$WORK/videos/pen720.mp4" ] || $BIN synth video "$WORK/videos/pen720.mp4" --seed 3 --duration 60 >&2
[ -f "$WORK/videos/pen1080.mp4" ] || $BIN synth video "$WORK/videos/pen1080.mp4" --seed 4 --duration 20 --width 1920 --height 1080 >&2

PORT=18931
RUST_LOG=warn $BIN serve --videos "$WORK/videos" --data "$WORK/data" --bind 127.0.0.1:$PORT &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
BASE=http://127.0.0.1:$PORT
until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.2; done
id_of() { curl -sf "$BASE/api/videos" | python3 -c "import sys,json; print(next(v['id'] for v in json.load(sys.stdin) if v['name']=='$1'))"; }
ID720=$(id_of pen720.mp4)
ID1080=$(id_of pen1080.mp4)
log "waiting for both videos to be indexed"
until curl -sf "$BASE/api/videos" | python3 -c "import sys,json; sys.exit(0 if all(v['index'] and v['index']['state']=='done' for v in json.load(sys.stdin)) else 1)"; do sleep 2; done
wait_quiet api

# wrk: random t per request for count_at_time (a Lua script), one URL for the cached frame.
cat >"$WORK/count.lua" <<LUA
math.randomseed(7)
request = function()
  return wrk.format("GET", string.format("/api/video_file/count_at_time?id=$ID720&t=%.3f", math.random() * 60))
end
LUA
echo "| what | threads x connections | requests/s | p50 ms | p99 ms |"
echo "|---|---|---:|---:|---:|"
run_wrk() {
  local name=$1 conns=$2; shift 2
  local out
  out=$(wrk -t1 -c"$conns" -d"${DURATION}s" --latency "$@")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "| $name | 1 x $conns | $rps | $p50 | $p99 |"
}
run_wrk "count_at_time, indexed 720p, random t" 32 -s "$WORK/count.lua" "$BASE"
curl -sf -o /dev/null "$BASE/api/video_file/frame_optimized?id=$ID720&t=12.5"
run_wrk "frame_optimized, cached (720p JPEG q80, boxes)" 32 "$BASE/api/video_file/frame_optimized?id=$ID720&t=12.5"

# Cold exact 1080p frames: sequential, each at a new random time, no boxes (decode + encode).
python3 - "$BASE" "$ID1080" <<'PY'
import random, statistics, sys, time, urllib.request
base, vid = sys.argv[1], sys.argv[2]
random.seed(11)
times = []
for _ in range(40):
    t = random.uniform(0, 19.9)
    start = time.perf_counter()
    urllib.request.urlopen(f"{base}/api/video_file/frame_optimized?id={vid}&t={t:.3f}&inference=false").read()
    times.append((time.perf_counter() - start) * 1000)
times.sort()
print(f"| frame_optimized, cold exact 1080p frame (random t, no boxes), sequential | 1 | {1000/statistics.mean(times):.1f} | {statistics.median(times):.1f} | {times[int(len(times)*0.99)-1]:.1f} |")
PY
for n in "${NOTES[@]}"; do echo "Note: $n"; done
