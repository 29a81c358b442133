# Shared by evaluate.sh and tune.sh: builds the release binary and makes the synthetic videos
# they score on.
# shellcheck shell=bash

bin=target/release/pigweight

# synth_videos WORK: reads lines "name seed pigs pig-length quality" on stdin, makes each 60 s
# video under WORK once, and leaves their paths in the array `videos`.
synth_videos() {
  local work=$1 name seed pigs length quality video
  cargo build --release --locked --bin pigweight >&2
  mkdir -p "$work"
  videos=()
  while read -r name seed pigs length quality; do
    video="$work/$name.mp4"
    if [ ! -f "$video" ]; then
      $bin synth video "$video" --seed "$seed" --duration 60 --pigs "$pigs" --pig-length "$length" \
        --quality "$quality" >&2
    fi
    videos+=("$video")
  done
}
