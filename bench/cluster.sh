#!/usr/bin/env bash
# Cluster benchmark (docs/cluster.md), every figure against the single box in the same run:
#   - indexing VIDEOS synthetic 720p pens of SECONDS_EACH s from scratch: one `serve` on SQLite
#     (the single box), then on a throwaway PostgreSQL 15 an API instance with --indexing off and
#     one, then two `pigweight worker`s (wall time from the first process's start to the last
#     video done; the cost of leases, notices and the network as a ratio);
#   - count_at_time on an indexed video, SQLite-backed instance vs PostgreSQL-backed instance
#     (the same in-memory view): wrk 32 connections, and oha at 20,000 req/s open loop;
#   - from a worker's commit to the other instance's view (its /metrics, two-worker run).
# On this 2-core machine two workers share the two cores: the point is the overhead, not the
# scaling, which takes more machines. Prints a markdown table and writes bench/cluster-latest.md.
# Knobs: VIDEOS, SECONDS_EACH, DURATION (s per wrk/oha row), ROUNDS, QUIET_WAIT.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
QUIET_WAIT=${QUIET_WAIT:-300}
DURATION=${DURATION:-10}
VIDEOS=${VIDEOS:-4}
SECONDS_EACH=${SECONDS_EACH:-30}
WORK=bench/.data/cluster
BIN=target/release/pigweight
PGBIN=/usr/lib/postgresql/15/bin

load_tools
cargo build --release --locked -p pigweight-server >&2
mkdir -p "$WORK/videos"
for i in $(seq 1 "$VIDEOS"); do
  [ -f "$WORK/videos/pen$i.mp4" ] ||
    $BIN synth video "$WORK/videos/pen$i.mp4" --seed $((40 + i)) --duration "$SECONDS_EACH" >&2
done
ROOT="barn1=$PWD/$WORK/videos"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
PGDIR=$(mktemp -d /tmp/pigweight-bench-pg.XXXXXX)
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  runuser -u postgres -- $PGBIN/pg_ctl -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT

# A throwaway PostgreSQL 15 (initdb refuses root: it runs as the postgres user), fsync on.
chown postgres "$PGDIR"
PGPORT=$(free_port)
runuser -u postgres -- $PGBIN/initdb -D "$PGDIR/data" -U pigweight --auth=trust --no-sync >/dev/null
runuser -u postgres -- $PGBIN/pg_ctl -D "$PGDIR/data" -l "$PGDIR/log" -w \
  -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
database() { # name -> URL of a new, empty database
  $PGBIN/psql -q -h 127.0.0.1 -p "$PGPORT" -U pigweight -d postgres -c "CREATE DATABASE $1" >&2
  echo "postgres://pigweight@127.0.0.1:$PGPORT/$1"
}

# serve PORT [args...]: starts an instance; returns once it answers.
serve() {
  local port=$1
  shift
  RUST_LOG=warn $BIN serve --bind "127.0.0.1:$port" --videos "$ROOT" --data "$(mktemp -d)" "$@" &
  PIDS+=($!)
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
}
wait_done() { # base: until every video's index is done
  until curl -sf "$1/api/videos" | python3 -c "import sys,json; v=json.load(sys.stdin); sys.exit(0 if len(v)==$VIDEOS and all(x['index'] and x['index']['state']=='done' for x in v) else 1)"; do
    sleep 0.25
  done
}
now() { date +%s.%N; }

# The single box: serve on SQLite indexes everything itself.
wait_quiet single
SINGLE_PORT=$(free_port)
SINGLE=http://127.0.0.1:$SINGLE_PORT
start=$(now)
serve "$SINGLE_PORT"
wait_done "$SINGLE"
SINGLE_S=$(python3 -c "print(f'{$(now) - $start:.1f}')")
log "single box: $SINGLE_S s"

# cluster WORKERS: an API instance indexing nothing and WORKERS workers on a fresh database;
# leaves the API instance running (CLUSTER, its base URL).
cluster() {
  local url port pids=()
  url=$(database "run$1")
  port=$(free_port)
  wait_quiet "cluster-$1"
  local start
  start=$(now)
  serve "$port" --indexing off --database "$url"
  for _ in $(seq 1 "$1"); do
    RUST_LOG=warn $BIN worker --videos "$ROOT" --database "$url" --data "$(mktemp -d)" &
    pids+=($!)
    PIDS+=($!)
  done
  wait_done "http://127.0.0.1:$port"
  python3 -c "print(f'{$(now) - $start:.1f}')" >"$WORK/seconds-$1"
  kill "${pids[@]}" 2>/dev/null || true
  CLUSTER=http://127.0.0.1:$port
}
cluster 1
ONE_S=$(cat "$WORK/seconds-1")
log "one worker: $ONE_S s"
cluster 2
TWO_S=$(cat "$WORK/seconds-2")
log "two workers: $TWO_S s"
LAG=$(curl -sf "$CLUSTER/metrics" | python3 -c "
import sys
m = {l.split()[0]: float(l.split()[-1]) for l in sys.stdin if l and not l.startswith('#')}
n = m['pigweight_index_follow_shown_total']
print(f\"{m['pigweight_index_follow_lag_ms_sum_total'] / max(n, 1):.0f} {m['pigweight_index_follow_lag_ms_max']:.0f} {n:.0f}\")")
read -r LAG_MEAN LAG_MAX LAG_N <<<"$LAG"

# count_at_time on both instances: the same video, the same random times.
ID=$(curl -sf "$SINGLE/api/videos" | python3 -c "import sys,json; print(sorted(json.load(sys.stdin), key=lambda v: v['name'])[0]['id'])")
cat >"$WORK/count.lua" <<LUA
math.randomseed(7)
request = function()
  return wrk.format("GET", string.format("/api/video_file/count_at_time?id=$ID&t=%.3f", math.random() * ($SECONDS_EACH - 1)))
end
LUA
# This machine's neighbours make single runs vary by 2x: ROUNDS rounds, the two instances in
# turn, and each side's best (most req/s under wrk; lowest p99 at the fixed rate).
ROUNDS=${ROUNDS:-3}
best_rps() { sort -k1,1 -g -r | head -1; }
best_p99() { sort -k3,3 -g | head -1; }
fixed() { oha_row 20000 "$1/api/video_file/count_at_time\\?id=$ID&t=[1-2][0-9]\\.[0-9]{3}"; }
wait_quiet counts
: >"$WORK/s-wrk"; : >"$WORK/p-wrk"; : >"$WORK/s-oha"; : >"$WORK/p-oha"
for _ in $(seq 1 "$ROUNDS"); do
  wrk_row count 32 "$SINGLE" -s "$WORK/count.lua" >>"$WORK/s-wrk"
  wrk_row count 32 "$CLUSTER" -s "$WORK/count.lua" >>"$WORK/p-wrk"
  fixed "$SINGLE" | sed 's/ms//g' >>"$WORK/s-oha"
  fixed "$CLUSTER" | sed 's/ms//g' >>"$WORK/p-oha"
done
read -r S_RPS S_P50 S_P99 <<<"$(best_rps <"$WORK/s-wrk")"
read -r P_RPS P_P50 P_P99 <<<"$(best_rps <"$WORK/p-wrk")"
read -r SF_RPS SF_P50 SF_P99 <<<"$(best_p99 <"$WORK/s-oha")"
read -r PF_RPS PF_P50 PF_P99 <<<"$(best_p99 <"$WORK/p-oha")"

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
{
  echo "| figure | single box (SQLite) | cluster (PostgreSQL) | ratio |"
  echo "|---|---|---|---|"
  echo "| index $VIDEOS x ${SECONDS_EACH} s 720p from scratch, one worker (s) | $SINGLE_S | $ONE_S | $(ratio "$ONE_S" "$SINGLE_S")x the time |"
  echo "| the same, two workers on the same 2 cores (s) | $SINGLE_S | $TWO_S | $(ratio "$TWO_S" "$SINGLE_S")x the time |"
  echo "| count_at_time, 32 connections (wrk, best of $ROUNDS): req/s, p50, p99 | $S_RPS, $S_P50, $S_P99 | $P_RPS, $P_P50, $P_P99 | $(ratio "$P_RPS" "$S_RPS")x |"
  echo "| count_at_time asked at 20,000 req/s (oha, best of $ROUNDS): req/s, p50, p99 (ms) | $SF_RPS, $SF_P50, $SF_P99 | $PF_RPS, $PF_P50, $PF_P99 | |"
  echo "| a worker's commit to the other instance's view: mean, max ($LAG_N readings) | | $LAG_MEAN ms, $LAG_MAX ms | |"
  for n in "${NOTES[@]}"; do echo "- $n"; done
} | tee bench/cluster-latest.md
