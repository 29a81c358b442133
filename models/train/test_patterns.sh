#!/usr/bin/env bash
# Adds frames of GStreamer's own test patterns (videotestsrc: colour bars, checkers, pinwheel,
# a moving ball, snow, zone plates, ...) to a YOLO dataset as images without pigs: empty label
# files, so the detector learns that none of them is a pig. Each pattern is encoded with x264
# at several quality factors and sizes and decoded again, so the frames carry the codec's
# artefacts, as a test-pattern camera feed would.
#
#   models/train/test_patterns.sh DATASET_DIR SPLIT FRAMES_PER_PATTERN SEED
set -euo pipefail
out=$1 split=$2 per=$3 seed=$4
mkdir -p "$out/images/$split" "$out/labels/$split" "$out/visible/$split"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sizes=("640 360" "640 480" "960 540" "1280 720")
RANDOM=$seed
for pattern in $(seq 0 25); do
  for k in $(seq 1 "$per"); do
    set -- ${sizes[$((RANDOM % ${#sizes[@]}))]}
    width=$1 height=$2
    quantizer=$((18 + RANDOM % 24))
    speed=$((RANDOM % 9 - 4))
    # A foreground colour of the ball, bar and solid-colour patterns: pinks and browns too.
    colours=(0xffffffff 0xfff0a0a0 0xffd08060 0xff905030 0xff202020 0xffffe0c0)
    fg=${colours[$((RANDOM % ${#colours[@]}))]}
    # Frame k of a short clip: the pattern has moved (ball, snow, scrolling) by then.
    frames=$((5 + RANDOM % 40))
    gst-launch-1.0 -q videotestsrc pattern="$pattern" num-buffers="$frames" horizontal-speed="$speed" \
      foreground-color="$fg" ! "video/x-raw,width=$width,height=$height,framerate=25/1" \
      ! x264enc quantizer="$quantizer" pass=quant speed-preset=veryfast threads=1 \
      ! h264parse ! mp4mux ! filesink location="$tmp/clip.mp4"
    gst-launch-1.0 -q filesrc location="$tmp/clip.mp4" ! decodebin ! videoconvert \
      ! pngenc ! multifilesink location="$tmp/f%04d.png"
    last=$(ls "$tmp"/f*.png | tail -1)
    name=pattern${pattern}-s${seed}-$k
    mv "$last" "$out/images/$split/$name.png"
    rm -f "$tmp"/f*.png
    : > "$out/labels/$split/$name.txt"
    : > "$out/visible/$split/$name.txt"
  done
done
echo "test patterns: $((26 * per)) frames -> $out/images/$split"
