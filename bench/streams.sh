#!/usr/bin/env bash
# Live-stream fan-out (issue 8): 1, 10 and 50 WebSocket clients on one 720p source at 15 fps
# (the 60 s synthetic pen of bench/api.sh played in a loop as a live source), at one quality
# level. The server's CPU should grow with the quality levels in use, not with the clients
# (each frame is encoded once per level); every client should keep ~15 fps. The clients (Python
# websockets, bench/stream_load.py) share the 2 cores with the server. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
QUIET_WAIT=${QUIET_WAIT:-120}
SECONDS_PER_ROW=${SECONDS_PER_ROW:-15}
VENV=bench/.venv-api

if [ ! -x $VENV/bin/python ]; then python3 -m venv $VENV; fi
$VENV/bin/python -c "import websockets" 2>/dev/null ||
  $VENV/bin/pip install --quiet --disable-pip-version-check websockets==17.4
api_videos
PORT=18933
serve_api $PORT
trap 'kill $SERVER 2>/dev/null || true' EXIT
VIDEO=$(video_id pen720.mp4)
STREAM=$(curl -sf -X POST -H 'Content-Type: application/json' -d "{\"video\": \"$VIDEO\"}" "$BASE/api/streams" | python3 -c "import sys,json; print(json.load(sys.stdin)['id'])")
until curl -sf "$BASE/api/streams/$STREAM" | python3 -c "import sys,json; sys.exit(json.load(sys.stdin)['status']['state']!='live')"; do sleep 0.5; done
wait_quiet streams

echo "| clients | server CPU | CPU per client | lowest client fps | median client fps | frames skipped |"
echo "|---:|---:|---:|---:|---:|---:|"
for n in 0 1 10 50; do
  if [ "$n" = 0 ]; then
    # Capture and inference alone, nobody watching (nothing is encoded).
    python3 - "$SERVER" "$SECONDS_PER_ROW" <<'PY'
import os, sys, time
pid, secs = int(sys.argv[1]), float(sys.argv[2])
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
c0, t0 = cpu(), time.perf_counter(); time.sleep(secs)
print(f"| 0 | {(cpu() - c0) / (time.perf_counter() - t0) * 100:.0f}% | – | – | – | – |")
PY
  else
    $VENV/bin/python bench/stream_load.py "ws://127.0.0.1:$PORT/ws/streams/$STREAM" "$SERVER" \
      --clients "$n" --seconds "$SECONDS_PER_ROW" --quality 70
  fi
done
curl -sf "$BASE/api/streams/stats" | python3 -c "
import sys, json
s = json.load(sys.stdin)['streams'][0]
print(f\"\nEncodings: {s['encodes']} for {s['frames']} frames captured, shared {s['encode_shared']} times; mean encode {s['encode_ms']:.1f} ms.\")"
for n in "${NOTES[@]}"; do echo "Note: $n"; done
