# Shared by the bench scripts: logging and waiting for an idle machine (2 cores: a busy
# machine makes every figure noisy). wait_quiet reads QUIET_WAIT (seconds, 0 = do not wait).

log() { echo "bench: $*" >&2; }

cpu_idle_percent() {
  local u n s i w x y z t1 i1 t2 i2
  read -r _ u n s i w x y z _ </proc/stat
  t1=$((u + n + s + i + w + x + y + z)) i1=$((i + w))
  sleep 2
  read -r _ u n s i w x y z _ </proc/stat
  t2=$((u + n + s + i + w + x + y + z)) i2=$((i + w))
  echo $((100 * (i2 - i1) / (t2 - t1 > 0 ? t2 - t1 : 1)))
}

NOTES=()
wait_quiet() {
  local start idle
  [ "$QUIET_WAIT" -gt 0 ] || return 0
  start=$SECONDS
  while :; do
    idle=$(cpu_idle_percent)
    if [ "$idle" -ge 90 ]; then return 0; fi
    if [ $((SECONDS - start)) -ge "$QUIET_WAIT" ]; then
      NOTES+=("run $1 started on a busy machine (CPU ${idle}% idle): its figures are noisier")
      log "machine still busy (${idle}% idle) after ${QUIET_WAIT}s; running anyway"
      return 0
    fi
    log "waiting for an idle machine (${idle}% idle now)"
    sleep 10
  done
}


# The release server on the synthetic pens of the API benchmarks (bench/.data/api), shared by
# bench/api.sh, bench/player.sh and bench/streams.sh.
BIN=target/release/pigweight
API_WORK=bench/.data/api

# api_videos [1080]: builds the release binary, makes the 60 s 720p pen (and the 20 s 1080p one).
api_videos() {
  cargo build --release --locked -p pigweight-server >&2
  mkdir -p "$API_WORK/videos"
  [ -f "$API_WORK/videos/pen720.mp4" ] ||
    $BIN synth video "$API_WORK/videos/pen720.mp4" --seed 3 --duration 60 >&2
  if [ "${1:-}" = 1080 ] && [ ! -f "$API_WORK/videos/pen1080.mp4" ]; then
    $BIN synth video "$API_WORK/videos/pen1080.mp4" --seed 4 --duration 20 --width 1920 --height 1080 >&2
  fi
}

# serve_api PORT: starts the release server on those videos; sets SERVER (its pid) and BASE,
# returns once it answers, and waits until every video is indexed (or failed).
serve_api() {
  BASE=http://127.0.0.1:$1
  RUST_LOG=warn $BIN serve --videos "$API_WORK/videos" --data "$API_WORK/data" --bind "127.0.0.1:$1" &
  SERVER=$!
  until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.2; done
  log "waiting for the videos to be indexed"
  until curl -sf "$BASE/api/videos" | python3 -c "import sys,json; sys.exit(0 if all(v['index'] and v['index']['state'] in ('done','failed') for v in json.load(sys.stdin)) else 1)"; do sleep 2; done
}

# video_id NAME: the id of a video of the running server.
video_id() {
  curl -sf "$BASE/api/videos" | python3 -c "import sys,json; print(next(v['id'] for v in json.load(sys.stdin) if v['name']=='$1'))"
}

# load_tools: wrk (Debian) and oha (crates.io), for the HTTP load rows below.
OHA_VERSION=1.16.0
load_tools() {
  command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
  command -v oha >/dev/null || cargo install --locked oha --version $OHA_VERSION >&2
}
# wrk_row key conns url [wrk args...] -> "rps p50 p99" (DURATION seconds, closed loop).
wrk_row() {
  local out
  out=$(wrk -t1 -c"$2" -d"${DURATION}s" --latency "${@:4}" "$3")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out")"
}
# oha_row rate url-regex -> "rps p50 p99" (ms; open loop at `rate`, latency from when each
# request was due).
oha_row() {
  oha --no-tui --output-format json -z "${DURATION}s" -q "$1" -c 64 --latency-correction \
    --rand-regex-url "$2" | python3 -c "import sys,json; d=json.load(sys.stdin); s=d['summary']; p=d['latencyPercentiles']; print(f\"{s['requestsPerSec']:.0f} {p['p50']*1000:.2f}ms {p['p99']*1000:.2f}ms\")"
}
