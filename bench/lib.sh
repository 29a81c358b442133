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

