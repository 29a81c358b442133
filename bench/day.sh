#!/usr/bin/env bash
# A day-long recording (issue 25) on this machine, with the release server: a 60 s 1080p clip
# (25 fps, a keyframe every 2 s) muxed 1440 times over without re-encoding (`splitmuxsrc !
# mp4mux`: 24 h, 2.16 M frames, ~21 GB; made once, kept in bench/.data/day). With the page cache
# dropped (when root), a fresh data folder:
# - the video's facts and frame table (GET /api/videos/ID), then its frame at 12 h
#   (frame_optimized): what the player waits for before its first picture;
# - the index after 30 and 60 s: samples and the longest gap between them over the whole day
#   (keyframes come coarse to fine), and the keyframes pass's own estimate of its end;
# - the frame table's and the index view's bytes in /api/stats.
# Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
WORK=$(realpath -m bench/.data/day)
mkdir -p "$WORK/parts" "$WORK/videos"
cargo build --release --locked -p pigweight-server >&2
if [ ! -f "$WORK/videos/day.mp4" ]; then
  [ -f "$WORK/clip.mp4" ] || $BIN synth video "$WORK/clip.mp4" --seed 5 --duration 60 --width 1920 \
    --height 1080 --gop 50 >&2
  for i in $(seq -w 1 1440); do ln -sf ../clip.mp4 "$WORK/parts/p$i.mp4"; done
  gst-launch-1.0 -q splitmuxsrc location="$WORK/parts/p*.mp4" ! h264parse ! mp4mux ! \
    filesink location="$WORK/videos/day.mp4.part"
  mv "$WORK/videos/day.mp4.part" "$WORK/videos/day.mp4"
fi
rm -rf "$WORK/data"
if [ "$(id -u)" = 0 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi

PORT=18935
BASE=http://127.0.0.1:$PORT
$BIN serve --videos "$WORK/videos" --data "$WORK/data" --bind 127.0.0.1:$PORT --insecure-no-auth \
  > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
started=$(date +%s.%N)
until curl -sf "$BASE/api/videos" > /dev/null; do sleep 0.05; done
ID=$(curl -sf "$BASE/api/videos" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")
detail=$(curl -s -o /dev/null -w "%{time_total}" "$BASE/api/videos/$ID")
frame=$(curl -s -o /dev/null -w "%{time_total}" "$BASE/api/video_file/frame_optimized?id=$ID&t=43200")
coverage() {
  python3 - "$WORK/data/index.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
times = [t for (t,) in db.execute("select time from samples order by time")]
end = db.execute("select max(duration) from videos").fetchone()[0] or 0
gaps = [b - a for a, b in zip([0.0] + times, times + [end])]
print(f"{len(times)} samples, longest gap {max(gaps):.0f} s" if times else "no samples")
PY
}
at() { sleep "$(python3 -c "print(max(0, $1 - ($(date +%s.%N) - $started)))")"; }
at 30; c30=$(coverage)
at 60; c60=$(coverage)
eta=$(curl -sf "$BASE/api/videos/$ID" | python3 -c "import json,sys; i=json.load(sys.stdin)['index']; print(f\"{i['pass']} pass {i['percent']:.1f}% done, {i['eta_s']/60:.0f} min to go\")")
stats=$(curl -sf "$BASE/api/stats" | python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"frame tables {d['frame_tables']['bytes']/1e6:.1f} MB, index views {d['index_views']['bytes']/1e6:.1f} MB\")")
size=$(du -h "$WORK/videos/day.mp4" | cut -f1)
echo "| what (24 h 1080p, $size, cold page cache) | figure |"
echo "|---|---:|"
echo "| facts and frame table (GET /api/videos/ID) | ${detail} s |"
echo "| then the frame at 12 h (frame_optimized) | ${frame} s |"
echo "| index 30 s after start | $c30 |"
echo "| index 60 s after start | $c60 |"
echo "| keyframes pass at 60 s | $eta |"
echo "| memory in /api/stats | $stats |"
