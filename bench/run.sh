#!/usr/bin/env bash
# Decode benchmark: our decoder (crates/decode/benches/decode.rs) and the Python prototype's
# approach (bench/reference.py: OpenCV and PyAV) in the same run, on the same files and the same
# target frames, one after the other (never at once: the machine has 2 cores).
#
# Idempotent: the venv (bench/.venv) and the synthetic inputs (bench/.data) are made only when
# missing. Prints a markdown report and writes it to bench/results-latest.md; the raw JSON of
# each run stays in bench/.data/results/.
#
# Knobs (environment): BENCH_RUNS (default 2), BENCH_SEEKS (random seeks per file, default 60),
# BENCH_QUIET_WAIT (seconds to wait for an idle machine before each run, default 300; 0 = don't).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh  # log, wait_quiet
ROOT=$PWD
DATA=bench/.data
VENV=bench/.venv
RUNS=${BENCH_RUNS:-2}
SEEKS=${BENCH_SEEKS:-60}
QUIET_WAIT=${BENCH_QUIET_WAIT:-300}

# Pinned reference side: current releases that install with pip on Python 3.11 here.
PINS=(opencv-python-headless==4.14.0.94 av==18.1.0 numpy==2.4.6)

# --- Python reference environment -----------------------------------------------------------
pins_installed() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (p.split("==") for p in sys.argv[1:])))
PY
}
if ! pins_installed; then
  log "creating $VENV with ${PINS[*]}"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
  pins_installed
fi

# --- Build ----------------------------------------------------------------------------------
log "building (release)"
cargo build --release --locked -p pigweight-server
cargo bench --locked -p pigweight-decode --bench decode --no-run

# --- Inputs: 720p and 1080p, GOP 50 and 250, 30 s of synthetic pens each ---------------------
mkdir -p "$DATA"
FILES=()
for spec in 1280x720:50 1280x720:250 1920x1080:50 1920x1080:250; do
  size=${spec%%:*}
  gop=${spec##*:}
  out="$DATA/synth-${size#*x}p-gop$gop.mp4"
  if [ ! -s "$out" ]; then
    log "making $out"
    tmp="$DATA/tmp-$$.mp4"
    target/release/pigweight synth video "$tmp" --width "${size%x*}" --height "${size#*x}" \
      --duration 30 --gop "$gop" --seed 3
    mv "$tmp" "$out"
    mv "${tmp%.mp4}.truth.json" "${out%.mp4}.truth.json" 2>/dev/null || true
  fi
  FILES+=("$ROOT/$out")
done

# --- Runs -------------------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN_DIRS=()
for run in $(seq 1 "$RUNS"); do
  dir="$ROOT/$DATA/results/$STAMP/run$run"
  mkdir -p "$dir/frames"
  wait_quiet "$run"
  log "run $run/$RUNS: ours"
  # GStreamer's warnings go to the log, not the terminal.
  if ! cargo bench --locked -q -p pigweight-decode --bench decode -- --json "$dir/ours.json" \
    --frames-dir "$dir/frames" --seeks "$SEEKS" "${FILES[@]}" >"$dir/ours.md" 2>"$dir/ours.log"; then
    tail -n 30 "$dir/ours.log" >&2
    exit 1
  fi
  log "run $run/$RUNS: reference (OpenCV, PyAV)"
  "$VENV/bin/python" bench/reference.py --plan "$dir/ours.json" --json "$dir/reference.json"
  rm -rf "$dir/frames"
  RUN_DIRS+=("$dir")
done

# --- Report -----------------------------------------------------------------------------------
{
  echo "## Decode benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM"
  echo "- GStreamer $(gst-launch-1.0 --version | sed -n 's/.*GStreamer \([0-9.]*\).*/\1/p' | head -1)," \
    "$(dpkg-query -W -f='libavcodec ${Version}' 'libavcodec[0-9]*' 2>/dev/null | head -1 || true);" \
    "reference: ${PINS[*]}, Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
  rev=$(git rev-parse --short HEAD 2>/dev/null || echo "no git")
  if [ -n "$(git status --porcelain -- crates/decode/src 2>/dev/null)" ]; then rev="$rev, with uncommitted changes in crates/decode/src"; fi
  echo "- Code: $rev"
  echo "- Inputs: synthetic pens from \`pigweight synth video\` (30 s, 25 fps, H.264 High with B-frames, seed 3)"
  echo "- Command: \`make bench\` (= \`bench/run.sh\`, BENCH_RUNS=$RUNS, BENCH_SEEKS=$SEEKS); raw JSON in $DATA/results/$STAMP"
  for note in "${NOTES[@]}"; do echo "- Note: $note"; done
  echo
  "$VENV/bin/python" bench/combine.py "${RUN_DIRS[@]}"
} | tee bench/results-latest.md
