#!/usr/bin/env bash
# HLS (issue 25) on this machine, with the release server: for a 1080p H.264 MP4 (repackaged), a
# 1080p H.265 MP4 and a 720p MPEG-4 AVI (transcoded by x264), each 20 s with a keyframe every
# 2 s, and their lower renditions:
# - the transcoder's speed per rendition: every segment made once, one at a time, nothing made
#   ahead (seconds of video per second of making: x real time), and the bytes per second of
#   video, against the source's;
# - a segment asked for again: from the disk cache;
# - time to first frame in the player (chromium), on a server that has made nothing (cold) and
#   again (cached), per kind of source.
# Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
QUIET_WAIT=${QUIET_WAIT:-120}
WORK=bench/.data/hls
SECS=20

scripts/setup.sh --test
scripts/fixtures.sh
cargo build --release --locked -p pigweight-server >&2
mkdir -p "$WORK/videos"
V=$WORK/videos
if [ ! -f "$V/h264-1080.mp4" ]; then
  $BIN synth video "$V/h264-1080.mp4" --seed 5 --duration $SECS --width 1920 --height 1080 --gop 50 >&2
fi
if [ ! -f "$V/h265-1080.mp4" ]; then
  gst-launch-1.0 -q filesrc location="$V/h264-1080.mp4" ! decodebin ! videoconvert ! \
    x265enc speed-preset=fast key-int-max=50 ! h265parse ! mp4mux ! filesink location="$V/h265-1080.mp4"
fi
if [ ! -f "$V/mpeg4-720.avi" ]; then
  gst-launch-1.0 -q videotestsrc num-buffers=$((SECS * 25)) pattern=ball ! \
    video/x-raw,width=1280,height=720,framerate=25/1 ! avenc_mpeg4 gop-size=50 bitrate=3000000 ! \
    avimux ! filesink location="$V/mpeg4-720.avi"
fi

PORT=18934
BASE=http://127.0.0.1:$PORT
CONFIG=$WORK/config.toml
start_server() {
  # Nothing made ahead: each segment's time is its own.
  printf '[api]\nhls_ahead = %s\n' "$1" >"$CONFIG"
  rm -rf "$WORK/data"
  RUST_LOG=warn $BIN serve --videos "$V" --data "$WORK/data" --bind "127.0.0.1:$PORT" --config "$CONFIG" &
  SERVER=$!
  until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.2; done
  until [ "$(curl -sf "$BASE/api/videos" | python3 -c 'import sys,json; print(len(json.load(sys.stdin)))')" = 3 ]; do sleep 0.5; done
}
trap 'kill $SERVER 2>/dev/null || true' EXIT

start_server 0
wait_quiet hls
echo "### Transcoder speed and size per rendition (20 s sources, 4 s segments, one at a time)"
echo
echo "| source | rendition | how | made at | kbit/s | bytes vs source | a segment again (cache) |"
echo "|---|---|---|---:|---:|---:|---:|"
for name in h264-1080.mp4 h265-1080.mp4 mpeg4-720.avi; do
  id=$(curl -sf "$BASE/api/videos" | python3 -c "import sys,json; print(next(v['id'] for v in json.load(sys.stdin) if v['name']=='$name'))")
  size=$(stat -c %s "$V/$name")
  for rendition in $(curl -sf "$BASE/api/videos/$id/hls/master.m3u8" | grep -o '^[a-z0-9]*/index.m3u8' | cut -d/ -f1); do
    n=$(curl -sf "$BASE/api/videos/$id/hls/$rendition/index.m3u8" | grep -c '\.ts$')
    t0=$(date +%s.%N)
    bytes=0
    for ((k = 0; k < n; k++)); do
      b=$(curl -sf -o /dev/null -w '%{size_download}' "$BASE/api/videos/$id/hls/$rendition/$k.ts")
      bytes=$((bytes + b))
    done
    t1=$(date +%s.%N)
    again=$(curl -sf -o /dev/null -w '%{time_total}' "$BASE/api/videos/$id/hls/$rendition/0.ts")
    how=$(curl -sf "$BASE/api/videos/$id" | python3 -c "import sys,json; d=json.load(sys.stdin); print('repackaged' if '$rendition'=='source' and d['codec'].startswith('H.264') else 'x264')")
    python3 -c "
secs, made, bytes, size, again = $SECS, $t1 - $t0, $bytes, $size, $again
print(f'| $name | $rendition | $how | {secs / made:.1f}x real time | {bytes * 8 / secs / 1000:.0f} | {bytes / size * 100:.0f}% | {again * 1000:.1f} ms |')"
  done
done
curl -sf "$BASE/api/stats" | python3 -c "
import sys, json
h = json.load(sys.stdin)['hls']
print(f\"\nServer: {h['made']} segments made, {h['failed']} failed, cache {h['cache']['hits']} hits / {h['cache']['misses']} misses, encoder {h['encoder']}, {h['realtime_factor']:.1f}x real time over all.\")"
kill $SERVER
wait $SERVER 2>/dev/null || true

start_server 2
IDS=$(curl -sf "$BASE/api/videos" | python3 -c "import sys,json; print(' '.join(v['id'] + ':' + v['name'] for v in json.load(sys.stdin)))")
echo
echo "### Time to first frame in the player (chromium; cold: nothing made yet; cached: opened again)"
echo
echo "| source | played as | cold | cached |"
echo "|---|---|---:|---:|"
(cd crates/server/tests/js && node first_frame_bench.mjs "$BASE" $(for x in $IDS; do echo "${x%%:*}"; done)) |
  python3 -c "
import sys, json
names = dict(x.split(':', 1) for x in '$IDS'.split())
r = json.load(sys.stdin)
for id, runs in r.items():
    print(f\"| {names[id]} | {runs['cold']['playback']} | {runs['cold']['ms']:.0f} ms | {runs['cached']['ms']:.0f} ms |\")"
for n in "${NOTES[@]}"; do echo "Note: $n"; done
