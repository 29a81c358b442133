#!/usr/bin/env bash
# Load figures for the API (issue 6) on this machine: ours (the release binary) and a replica of
# the Python prototype (bench/prototype.py: FastAPI + OpenCV + onnxruntime) in the same run, one
# after the other (never at once: 2 cores), on the same videos and requests:
#   - count_at_time on an indexed video: saturated (wrk, 32 connections) and at a fixed 20,000
#     requests/s (oha -q, open loop: latency counted from when each request was due);
#   - a cached frame (wrk, 32 connections);
#   - cold exact 1080p frames, sequential, each at a new random time;
#   - 200 count-WebSocket clients each seeking 5 times a second (bench/ws_load.py).
# The load generators share the two cores with the server. Prints Markdown; figures go into
# bench/RESULTS.md by hand. Knobs: DURATION (s per wrk/oha row), QUIET_WAIT, WS_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
QUIET_WAIT=${QUIET_WAIT:-120}
DURATION=${DURATION:-10}
WS_SECONDS=${WS_SECONDS:-20}
VENV=bench/.venv-api
PINS=(fastapi==0.165.0 uvicorn==0.54.0 uvloop==0.23.0 httptools==0.9.0 websockets==17.4
  opencv-python-headless==4.14.0.94 numpy==2.4.6 onnxruntime==1.31.1)

load_tools
if [ ! -x $VENV/bin/python ]; then python3 -m venv $VENV; fi
$VENV/bin/python -c "import fastapi, uvicorn, websockets, cv2, onnxruntime" 2>/dev/null ||
  $VENV/bin/pip install --quiet --disable-pip-version-check "${PINS[@]}"
api_videos 1080
WORK=$API_WORK
PORT=18931
BASE=http://127.0.0.1:$PORT
SERVER=
trap '[ -z "$SERVER" ] || kill $SERVER 2>/dev/null || true' EXIT

# One row per figure: "what|ours|prototype|unit" collected in ROWS, printed at the end.
declare -A OURS THEIRS
cold_row() { # base id-of-1080p -> "rps p50 p99"
  python3 - "$1" "$2" <<'PY'
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
print(f"{1000/statistics.mean(times):.1f} {statistics.median(times):.1f}ms {times[int(len(times)*0.99)-1]:.1f}ms")
PY
}
ws_row() { # ws-url -> table row fields
  $VENV/bin/python bench/ws_load.py "$1" 60 --clients 200 --rate 5 --seconds "$WS_SECONDS"
}
# count.lua: a random time per request, the same sequence for both servers.
count_lua() {
  cat >"$WORK/count-$1.lua" <<LUA
math.randomseed(7)
request = function()
  return wrk.format("GET", string.format("/api/video_file/count_at_time?id=$1&t=%.3f", math.random() * 60))
end
LUA
  echo "$WORK/count-$1.lua"
}
measure() { # side id720 id1080 -> fills OURS or THEIRS
  local -n into=$1
  local lua
  lua=$(count_lua "$2")
  wait_quiet "$1"
  into[count]=$(wrk_row count 32 "$BASE" -s "$lua")
  into[count_fixed]=$(oha_row 20000 "$BASE/api/video_file/count_at_time\\?id=$2&t=[1-5][0-9]\\.[0-9]{3}")
  curl -sf -o /dev/null "$BASE/api/video_file/frame_optimized?id=$2&t=12.5"
  into[frame]=$(wrk_row frame 32 "$BASE/api/video_file/frame_optimized?id=$2&t=12.5")
  into[cold]=$(cold_row "$BASE" "$3")
  into[ws]=$(ws_row "ws://127.0.0.1:$PORT/ws/count?id=$2")
}

# --- ours -------------------------------------------------------------------------------------
serve_api $PORT
ID720=$(video_id pen720.mp4)
ID1080=$(video_id pen1080.mp4)
measure OURS "$ID720" "$ID1080"
kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=

# --- the prototype's replica -----------------------------------------------------------------
log "starting the prototype replica (counts every frame at start-up)"
PROTO_VIDEOS="$WORK/videos" PROTO_MODEL=models/pigs.onnx PROTO_PRECOUNT=1 \
  $VENV/bin/uvicorn --app-dir bench prototype:app --port $PORT --log-level warning &
SERVER=$!
until curl -sf "$BASE/api/videos" >/dev/null; do sleep 1; done
measure THEIRS pen720.mp4 pen1080.mp4
kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=

# --- table ------------------------------------------------------------------------------------
echo "| what | ours: req/s, p50, p99 | prototype replica: req/s, p50, p99 | ours / replica (req/s) |"
echo "|---|---|---|---:|"
row() {
  read -r a b c <<<"${OURS[$2]}"
  read -r x y z <<<"${THEIRS[$2]}"
  echo "| $1 | $a, $b, $c | $x, $y, $z | $(python3 -c "print(f'{float(\"$a\")/float(\"$x\"):.1f}x')") |"
}
row "count_at_time, indexed 720p, random t, 32 connections (wrk)" count
row "count_at_time, asked at 20,000 req/s (oha, open loop)" count_fixed
row "frame_optimized, cached 720p JPEG q80 with boxes, 32 connections (wrk)" frame
row "frame_optimized, cold exact 1080p frame, sequential" cold
echo
echo "| count WebSocket | clients x seeks | seeks/s | answered | p50 ms | p99 ms | max ms |"
echo "|---|---|---:|---:|---:|---:|---:|"
echo "${OURS[ws]}" | sed 's/^| count WebSocket/| ours/'
echo "${THEIRS[ws]}" | sed 's/^| count WebSocket/| prototype replica/'
for n in "${NOTES[@]}"; do echo "Note: $n"; done
