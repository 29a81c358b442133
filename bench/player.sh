#!/usr/bin/env bash
# Scrub latency of the player in a real browser (issue 7): Debian's chromium (headless, driven by
# playwright-core) against the release server on this machine, on the 60 s 720p synthetic pen
# of bench/api.sh, fully indexed. Three drags across the whole timeline, a pointer move every
# 50 ms; from each pointer event to the new picture and its count on screen. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
QUIET_WAIT=${QUIET_WAIT:-120}

scripts/setup.sh --test
scripts/fixtures.sh
api_videos
serve_api 18932
trap 'kill $SERVER 2>/dev/null || true' EXIT
ID=$(video_id pen720.mp4)
wait_quiet player
(cd crates/server/tests/js && node scrub_bench.mjs "$BASE" "$ID" 3) | python3 -c "
import sys, json
r = json.load(sys.stdin)
print('| frames shown while dragging | pointer to picture + count: median | p90 | max | release to exact frame + count |')
print('|---:|---:|---:|---:|---|')
print(f\"| {r['frames']} | {r['median_ms']:.1f} ms | {r['p90_ms']:.1f} ms | {r['max_ms']:.1f} ms | {', '.join(f'{x} ms' for x in r['release_ms'])} |\")
"
for n in "${NOTES[@]}"; do echo "Note: $n"; done
