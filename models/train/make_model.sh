#!/usr/bin/env bash
# Makes models/pigs.onnx from nothing but this repository: a synthetic dataset from
# `pigweight synth` (stills + frames of x264-encoded videos across the operating envelope),
# YOLO26n trained from its YAML with Ultralytics, exported to ONNX. `make model` runs it. Fixed
# seeds throughout.
#
#   STAGE26A_EPOCHS=24 STAGE26B_EPOCHS=10 STAGE26C_EPOCHS=3 STAGE26G_EPOCHS=2 \
#     STAGE26I_EPOCHS=1 DEVICE=cpu models/train/make_model.sh
#
# Five stages (models/README.md, "How it was made"), A and B on every still set below:
#   A. STAGE26A_EPOCHS from the YOLO26n YAML (random init) at 320, with mosaics;
#   B. STAGE26B_EPOCHS more from A's best weights at 480 and sizes around it (384-576),
#      without mosaics, AdamW at lr 0.0005; counting at 416, small pigs at 576 (chosen on the
#      tuning grid: 416 beat 480 there, at 0.75x the cost);
#   C. STAGE26C_EPOCHS more from B's best, likewise at lr 0.0003, on B's data and frames of 36
#      x264 videos across the envelope (stage26c_data); small pigs now under 0.18 of the short
#      side (chosen on the tuning sets). STAGE26C_EPOCHS=0 stops at B (shipped 2026-12-06 morning);
#   G. STAGE26G_EPOCHS more from C's best at lr 0.0002, on C's data and frames of 24 videos of
#      people walking through pens of few pigs or none (stage26g_data). STAGE26G_EPOCHS=0 stops
#      at C (shipped 2026-12-06 midday to evening), and G is left out where C is or where D,
#      E or F is given;
#   I. STAGE26I_EPOCHS more from G's best at lr 0.0001, on G's data and frames of 24 videos of
#      people in pink or white among few pigs or none (stage26i_data). STAGE26I_EPOCHS=0 stops
#      at G (shipped 2026-12-06 evening), and I is left out where G is or where H is given;
#  (D. tried after C, not shipped unless models/README.md says so: STAGE26D_EPOCHS (default 0)
#      more from C's best at 416 and 352-480, lr 0.0002, with as many envelope videos again;
#   E. likewise, not with D: STAGE26E_EPOCHS (default 0) more from C's best with C's recipe,
#      with frames of 24 videos of props and people among small pigs (stage26e_data);
#   F. likewise, alone: STAGE26F_EPOCHS (default 0) from C's best at lr 0.0002 on E's data and
#      frames of 12 crowded pens (stage26f_data). D, E and F go on from C instead of G;
#   H. after G, instead of I: STAGE26H_EPOCHS (default 0) more from G's best at lr 0.0001 on
#      G's data and frames of bright pens, crowded pens and pigs among people in pink or white
#      (stage26h_data);
#   L. instead of C, G and I, with STAGE26C_EPOCHS=0: STAGE26L_EPOCHS (default 0) more from B's
#      best with C's recipe (lr 0.0003) on I's data, C's, G's and I's video frames together
#      rather than stacked one stage on another; 3 epochs did worse than I on both grids,
#      models/README.md "Stage L";
#   M. after I: STAGE26M_EPOCHS (default 0) more from I's best at lr 0.0001 on I's data and
#      frames of 24 videos of troughs, buckets and boards among small pigs (stage26m_data);
#      its first epoch made the held-out far pen worse, models/README.md "Stage M";
#   P. after I: STAGE26P_EPOCHS (default 0) more on I's data at lr 0.0003 from I's best made
#      twice as deep (deepen.py: YOLO26n's repeated blocks at depth 1.0 instead of 0.5, the new
#      ones silent at first; 1.15x the cost of the YOLOv8n of issue 24's time); two epochs
#      counted a point under I on the tuning grid, models/README.md "Stage P".)
# All of them keep crop labels by the fraction of each pig a crop leaves (train.py --augment visible)
# and run their forward passes in bfloat16 on the CPU (an epoch 1.5x faster) where it has
# bfloat16 instructions (AVX-512 BF16 or AMX; float32 elsewhere). About 9 hours on this
# project's 2-core machine with them, an hour for C, 47 minutes for G and 26 for I; about 3.4x
# as long on one with AVX2 only (models/README.md, "How it was made").
#
# DEPTH26=1.0 builds stage A's network with every repeated block twice instead of YOLO26n's
# once (train.py --depth; the network deepen.py grows for P, 1.15x the cost of the YOLOv8n of
# issue 24's time), and the stages after A inherit it from A's weights: the whole recipe for a
# deeper network, exported to WORK/pigs26-dDEPTH.onnx unless OUT says otherwise. Give it its own
# WORK: the stages' own exports (p26-a.onnx, ...) are named alike for every depth.
#
# RESUME=1 continues interrupted training runs from their last finished epoch (the dataset is
# made again, identical: its seeds are fixed), on a fresh machine too: a run kept with
# `models/train/carry.py save target/model-train/runs NAME` and committed is put back first.
#
# ARCH=yolov8n makes the model shipped before it instead (YOLOv8n, 2026-11-30 to 2026-12-06,
# SHA-256 `29e747c5…`), in nine stages, written to OUT (default
# target/model-train/pigs-yolov8n.onnx):
#
#   STAGE1_EPOCHS=24 STAGE2_EPOCHS=8 STAGE3_EPOCHS=10 STAGE4_EPOCHS=12 STAGE5_EPOCHS=6 \
#     STAGE6_EPOCHS=6 STAGE7_EPOCHS=5 STAGE8_EPOCHS=4 STAGE9_EPOCHS=2 IMGSZ=416 DEVICE=cpu \
#     ARCH=yolov8n models/train/make_model.sh
#
# Its stage 9 was that model. STAGE10_EPOCHS (default 0) adds stage 10, tried and not shipped
# (models/README.md, "Stage 10"). FROM=EXPORT.onnx lets a YOLOv8n export of stage 9 stand for
# stages 1-9 and trains stage 10 from it (2 epochs unless STAGE10_EPOCHS says otherwise; e.g.
# `git show 70f4e0e:models/pigs-yolov8n.onnx > stage9.onnx`).
#
# The YOLOv8n recipe is nine stages, all with crop labels kept by the counting rule (train.py --augment
# counting, by the fraction of each box a crop keeps; stages 6 and 7: --augment visible, by the
# fraction of each pig; models/README.md has the experiments behind each step):
#   1. STAGE1_EPOCHS from the YOLOv8n YAML (random init) at 320, without the cropping
#      augmentations;
#   2. STAGE2_EPOCHS more from stage 1's best weights at 320 with them, AdamW at lr 0.0005;
#   3. STAGE3_EPOCHS more from stage 2's best weights at IMGSZ (the size it counts at), AdamW
#      at lr 0.0005;
#   4. STAGE4_EPOCHS more from stage 3's best weights at IMGSZ, likewise, on the dataset plus
#      500 stills of crowded pens and 500 of far cameras (the held-out videos' weak spots);
#   5. STAGE5_EPOCHS more from stage 4's best weights, likewise, on stage 4's data plus 1,200
#      stills of herds caught after 5-60 s of movement, pressed together and lying over each
#      other (the other stills catch herds in their first 3 s, still spread out);
#   6. STAGE6_EPOCHS more from stage 5's best weights, likewise, on the same data, with crop
#      labels kept by how much of each pig is left (a pig already cut by the frame or covered
#      by others, cut again by a crop, keeps less of itself than of its box);
#   7. STAGE7_EPOCHS more from stage 6's best weights, likewise, without mosaics (translate and
#      scale still crop): a mosaic cuts every tile, and the labels of pigs it cuts only know
#      how much of the box is left, not of the pig;
#   8. STAGE8_EPOCHS more from stage 7's, likewise, on the whole operating envelope (every
#      range of sizes, counts, resolutions and compression, props and people, empty pens,
#      GStreamer's test patterns; models/README.md, "Operating envelope");
#   9. STAGE9_EPOCHS more from stage 8's at lr 0.0003, on the envelope sets with the weak cells
#      weighed in: herds pressed together and far cameras on heavily compressed video;
#  (10. not shipped: STAGE10_EPOCHS more from stage 9's at lr 0.0002, on stage 9's data with
#      the first dataset back in; stage 9 left it out and lost on the older held-out far and
#      near cameras what it gained on the envelope's far cells.)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=models/train
work=${WORK:-target/model-train}
stage1_epochs=${STAGE1_EPOCHS:-24}
stage2_epochs=${STAGE2_EPOCHS:-8}
stage3_epochs=${STAGE3_EPOCHS:-10}
stage4_epochs=${STAGE4_EPOCHS:-12}
stage5_epochs=${STAGE5_EPOCHS:-6}
stage6_epochs=${STAGE6_EPOCHS:-6}
stage7_epochs=${STAGE7_EPOCHS:-5}
stage8_epochs=${STAGE8_EPOCHS:-4}
stage9_epochs=${STAGE9_EPOCHS:-2}
from=${FROM:-scratch}
stage10_epochs=${STAGE10_EPOCHS:-$([ "$from" = scratch ] && echo 0 || echo 2)}
imgsz=${IMGSZ:-416}
# The larger input for videos whose pigs are under 0.15 of the short side (models/README.md,
# "An input sized to the pigs"): written into the metadata with the operating point.
small=(--count-imgsz-small "${IMGSZ_SMALL:-576}" --count-small-length 0.15)
train_images=${TRAIN_IMAGES:-2000}
val_images=${VAL_IMAGES:-200}
device=${DEVICE:-cpu}
arch=${ARCH:-yolo26n}
# A deeper network (DEPTH26, below) is an experiment: its export never replaces the shipped one.
if [ -n "${OUT:-}" ]; then out=$OUT
elif [ "$arch" != yolo26n ]; then out=$work/pigs-yolov8n.onnx
elif [ -n "${DEPTH26:-}" ]; then out=$work/pigs26-d$DEPTH26.onnx
else out=models/pigs.onnx
fi
bin=target/release/pigweight
resume=(); [ "${RESUME:-0}" = 1 ] && resume=(--resume)
depth26=(); [ -n "${DEPTH26:-}" ] && depth26=(--depth "$DEPTH26")
# The runs' names (pigs26-a, ...; pigs26-d1.0-a, ... for a deeper network, so that RESUME=1
# never takes up another network's carried runs).
run26=pigs26${DEPTH26:+-d$DEPTH26}
# Ultralytics keeps its settings file here, not in the home folder; nothing goes online.
export YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$work/ultralytics-config"

if [ ! -x $here/.venv/bin/python ]; then
  python3 -m venv $here/.venv
fi
if ! $here/.venv/bin/python -c "import ultralytics, onnx, onnxslim" 2>/dev/null; then
  # PyPI's torch is the CUDA build (~3 GB download); it trains on CPU as well.
  $here/.venv/bin/pip install --quiet --disable-pip-version-check -r $here/requirements.txt
fi
cargo build --release --locked --bin pigweight
# A run carried over from another machine (models/train/carry.py) resumes where it stopped.
[ "${RESUME:-0}" = 1 ] && $here/.venv/bin/python $here/carry.py restore "$work/runs"

rm -rf "$work/dataset"
mkdir -p "$work/videos"
started=$(date +%s)
# Stills: every image its own scene (floor, light, coats, sizes, 0-15 pigs, crowding, pigs cut
# by the edges, motion blur on 30%, JPEG quality 40-95).
$bin synth dataset "$work/dataset" --train "$train_images" --val "$val_images" --seed 1
# Frames of encoded videos: x264 artefacts at several quality factors, herds in motion.
# Seeds 101-109 only; the held-out evaluation videos use seeds from 9001.
i=0
for spec in "2,8 23" "6,14 28" "10,18 33" "4,12 38" "8,16 26" "1,5 31" "12,20 35" "5,10 24" "7,13 30"; do
  set -- $spec
  i=$((i + 1))
  seed=$((100 + i))
  video="$work/videos/train_$seed.mp4"
  if [ ! -f "$video" ]; then
    $bin synth video "$video" --width 640 --height 360 --duration 20 --seed $seed \
      --pigs "$1" --pig-length 0.16,0.4 --quality "$2"
  fi
  split=train; [ $i -eq 9 ] && split=val
  $here/.venv/bin/python $here/video_frames.py "$video" "$work/dataset" --split $split --every 10
done
echo "dataset made in $(( $(date +%s) - started )) s"

# Every stage trains with --augment counting unless it names another (the last one given wins).
train() { $here/.venv/bin/python $here/train.py --augment counting "$@" --device "$device" \
  --project "$work/runs" "${resume[@]}"; }
# link_dataset OUT SRC[:PREFIX]...: a dataset of the sources' images, labels and visible
# fractions, hard-linked in, each source's files under its prefix (none for a source without
# one); data.yaml is the main dataset's (the class names), pointed at OUT.
link_dataset() {
  local out=$1 src prefix dir file; shift
  rm -rf "$out"
  for dir in {images,labels,visible}/{train,val}; do
    mkdir -p "$out/$dir"
    for src in "$@"; do
      prefix=; [[ $src == *:* ]] && prefix=${src#*:}- && src=${src%%:*}
      for file in "$src/$dir"/*; do
        [ -e "$file" ] || continue
        ln "$file" "$out/$dir/$prefix$(basename "$file")"
      done
    done
  done
  sed "s|^path: .*|path: '$(realpath "$out")'|" "$work/dataset/data.yaml" > "$out/data.yaml"
}

# Stage 8's data: the whole operating envelope (models/README.md, "Operating envelope"). The
# first dataset again, plus settled crowded herds (seed 5), and for the envelope: scenes across
# every range with props and people in them (seed 11), pigs longer than before (up to 0.6 of
# the short side; seed 12), far cameras on heavily compressed 540p (seed 13), 4:3 frames (seed
# 14), pens with no pigs but props and people (seed 15), GStreamer's test patterns, and frames
# of videos at 540p, 1080p and 30 fps with people and props (seeds 121-123).
stage8_data() {
  envelope=(--pigs 0,28 --pig-length 0.08,0.55 --props 0,8 --people 0,2 --empty 0.08 \
    --jpeg-quality 20,95 --moment 0,40)
  rm -rf "$work"/env-*
  [ -d "$work/settled-crowded" ] || $bin synth dataset "$work/settled-crowded" --train 800 --val 80 \
    --pigs 12,24 --pig-length 0.18,0.32 --moment 5,60 --seed 5
  $bin synth dataset "$work/env-spread" --train 1400 --val 140 "${envelope[@]}" --seed 11
  $bin synth dataset "$work/env-big" --train 400 --val 40 --pigs 1,8 --pig-length 0.4,0.6 \
    --props 0,4 --people 0,1 --moment 0,20 --seed 12
  $bin synth dataset "$work/env-far" --width 960 --height 540 --train 400 --val 40 --pigs 4,28 \
    --pig-length 0.08,0.16 --jpeg-quality 12,50 --props 0,6 --people 0,1 --seed 13
  $bin synth dataset "$work/env-4x3" --width 640 --height 480 --train 300 --val 30 "${envelope[@]}" \
    --seed 14
  $bin synth dataset "$work/env-none" --train 300 --val 30 --empty 1 --props 3,12 --people 0,3 \
    --jpeg-quality 20,95 --pig-length 0.08,0.55 --seed 15
  $here/test_patterns.sh "$work/env-patterns" train 6 16
  $here/test_patterns.sh "$work/env-patterns" val 1 17
  mkdir -p "$work/env-videos"
  i=0
  for spec in "960 540 25 4,20 0.08,0.2 36 120 3" "1920 1080 25 1,8 0.3,0.5 30 25 0" \
    "1280 720 30 2,14 0.12,0.45 27 60 1"; do
    set -- $spec
    i=$((i + 1))
    video="$work/videos/env_$((120 + i)).mp4"
    if [ ! -f "$video" ]; then
      $bin synth video "$video" --width "$1" --height "$2" --fps "$3" --pigs "$4" --pig-length "$5" \
        --quality "$6" --gop "$7" --bframes "$8" --props 1,6 --people 0,2 --duration 12 \
        --seed $((120 + i))
    fi
    $here/.venv/bin/python $here/video_frames.py "$video" "$work/env-videos" --split train --every 6
  done
  link_dataset "$work/dataset4" "$work/dataset" "$work/settled-crowded:settled-crowded" \
    "$work/env-spread:spread" "$work/env-big:big" "$work/env-far:far" "$work/env-4x3:4x3" \
    "$work/env-none:none" "$work/env-patterns:patterns" "$work/env-videos:videos"
  echo "stage 8 data made"
}

# Stage 9's data: the envelope's weak cells weighed in. Stage 8 cost the crowded pen (pigs lying
# half over each other) and missed far pigs on heavily compressed 540p video, so: more herds
# pressed together (seed 21), more far cameras (seed 22), and frames of four far-camera videos
# at x264 CRF 32-38 (seeds 131-134), beside stage 8's envelope sets (the first dataset and the
# extra pig sizes are left out to keep an epoch near half an hour here).
stage9_data() {
  rm -rf "$work/more-crowded" "$work/more-far" "$work/far-videos"
  $bin synth dataset "$work/more-crowded" --train 700 --val 70 --pigs 14,28 --pig-length 0.14,0.3 \
    --moment 10,60 --props 0,3 --seed 21
  $bin synth dataset "$work/more-far" --width 960 --height 540 --train 500 --val 50 --pigs 4,28 \
    --pig-length 0.08,0.16 --jpeg-quality 12,45 --props 0,6 --people 0,1 --moment 0,40 --seed 22
  mkdir -p "$work/far-videos"
  i=0
  for spec in "960 540 32 120 3" "960 540 35 60 2" "1280 720 38 100 0" "960 540 37 25 1"; do
    set -- $spec
    i=$((i + 1))
    video="$work/videos/far_$((130 + i)).mp4"
    if [ ! -f "$video" ]; then
      $bin synth video "$video" --width "$1" --height "$2" --pigs 6,24 --pig-length 0.09,0.16 \
        --quality "$3" --gop "$4" --bframes "$5" --props 0,4 --people 0,1 --duration 12 \
        --seed $((130 + i))
    fi
    $here/.venv/bin/python $here/video_frames.py "$video" "$work/far-videos" --split train --every 6
  done
  link_dataset "$work/dataset5" "$work/settled-crowded:settled-crowded" "$work/env-spread:spread" \
    "$work/env-far:far" "$work/env-none:none" "$work/env-patterns:patterns" \
    "$work/env-videos:videos" "$work/more-crowded:more-crowded" "$work/more-far:more-far" \
    "$work/far-videos:far-videos"
  echo "stage 9 data made"
}

# The YOLO26n model's data (models/README.md, "A newer network"): every still set of the
# YOLOv8n stages, far cameras with people (seed 24) and with props (seed 23),
# and light outside the exposure the other sets are lit with (seeds 25-27).
yolo26_data() {
  rm -rf "$work/far-people" "$work/far-props" "$work/env-dim" "$work/env-bright" "$work/env-dim-dark"
  local far=(--width 960 --height 540 --pigs 6,18 --pig-length 0.1,0.22 --jpeg-quality 25,80 \
    --moment 0,40)
  $bin synth dataset "$work/far-people" --train 800 --val 80 "${far[@]}" --props 0,4 --people 2,6 \
    --seed 24
  $bin synth dataset "$work/far-props" --train 600 --val 60 "${far[@]}" --props 4,10 --people 0,2 \
    --seed 23
  local light=(--pigs 0,20 --pig-length 0.1,0.45 --props 0,6 --people 0,1 --jpeg-quality 20,90 \
    --moment 0,40)
  $bin synth dataset "$work/env-dim" --train 600 --val 60 --exposure 0.25,0.75 "${light[@]}" --seed 25
  $bin synth dataset "$work/env-bright" --train 300 --val 30 --exposure 1.15,1.6 "${light[@]}" \
    --seed 26
  $bin synth dataset "$work/env-dim-dark" --train 300 --val 30 --coats dark,belted,red \
    --exposure 0.25,0.7 --pigs 2,20 --pig-length 0.1,0.4 --props 0,4 --people 0,1 \
    --jpeg-quality 20,90 --moment 0,40 --seed 27
  link_dataset "$work/dataset26" "$work/dataset" "$work/settled-crowded:settled-crowded" \
    "$work/env-spread:spread" "$work/env-big:big" "$work/env-far:far" "$work/env-4x3:4x3" \
    "$work/env-none:none" "$work/env-patterns:patterns" "$work/env-videos:videos" \
    "$work/more-crowded:more-crowded" "$work/more-far:more-far" "$work/far-videos:far-videos" \
    "$work/far-people:far-people" "$work/far-props:far-props" "$work/env-dim:dim" \
    "$work/env-bright:bright" "$work/env-dim-dark:dim-dark"
  echo "YOLO26n data made"
}

# envelope_videos OUT SPREADS FAR CROWDED: frames of x264 videos across the whole envelope,
# every 5th of 10 s (videos are the product's input, and the stills only know JPEG's
# artefacts), into the dataset OUT: 24 random spreads from seed SPREADS on (every setting drawn
# from its range, a quarter of them dim or bright, a quarter with a slow shutter, a fifth with
# the herd on the move), 6 far cameras on CRF 31-38 from seed FAR and 6 crowded pens from seed
# CROWDED; seeds ending in 3 go to validation.
envelope_videos() {
  local out=$1 specs
  rm -rf "$out"
  specs=$(python3 - "$2" "$3" "$4" <<'PY'
import random, sys
spreads, far, crowded = map(int, sys.argv[1:])
out = []
for seed in range(spreads, spreads + 24):
    r = random.Random(seed)
    w, h = r.choice([(960, 540), (1280, 720), (1920, 1080), (640, 360), (1024, 768), (1280, 960)])
    lo = round(r.uniform(0.08, 0.44), 2); hi = round(min(0.52, lo + r.uniform(0.02, 0.14)), 2)
    p0 = r.randint(0, 18); p1 = min(28, p0 + r.randint(0, 12))
    flags = []
    if r.random() < 0.25: flags += ["--exposure", r.choice(["0.3,0.5", "0.5,0.8", "1.2,1.5"])]
    if r.random() < 0.25: flags += ["--shutter", str(round(r.uniform(0.2, 0.6), 2))]
    if r.random() < 0.2: flags += ["--pace", "1.2,2.5"]
    out.append(f"{seed} {w} {h} {r.choice([25, 30])} {r.choice([25, 50, 60, 100, 120, 250])} "
               f"{r.randint(0, 3)} {r.randint(20, 38)} {p0},{p1} {lo},{hi} 0,{r.randint(0, 8)} "
               f"0,{r.randint(0, 2)} " + " ".join(flags))
def corner(seeds, length, spread, gops, bframes, crf, fewest, most, props, people):
    """Videos of one corner of the envelope: 540p to 1080p, each setting drawn in its range."""
    for seed in seeds:
        r = random.Random(seed)
        w, h = r.choice([(960, 540), (1280, 720), (1920, 1080)])
        lo = round(r.uniform(*length), 2); hi = round(lo + r.uniform(*spread), 2)
        out.append(f"{seed} {w} {h} {r.choice([25, 30])} {r.choice(gops)} {r.randint(*bframes)} "
                   f"{r.randint(*crf)} {r.randint(*fewest)},{r.randint(*most)} {lo},{hi} "
                   f"0,{r.randint(*props)} {people}")
# Far cameras on heavy compression, and crowded pens.
corner(range(far, far + 6), (0.08, 0.12), (0.03, 0.06), [60, 100, 120], (1, 3), (31, 38), (6, 14),
       (16, 28), (2, 6), "0,1")
corner(range(crowded, crowded + 6), (0.15, 0.22), (0.04, 0.08), [50, 60, 100], (0, 3), (22, 34),
       (14, 20), (22, 28), (0, 3), "0,0")
print("\n".join(out))
PY
)
  render_videos "$out" 5 <<< "$specs"
}

# render_videos OUT EVERY: the 10-second x264 videos specified on stdin, one per line (seed
# width height fps gop bframes crf pigs length props people [synth video flags]), each rendered
# once into $work/videos/c_SEED.mp4, and every EVERY-th frame of each into the dataset OUT
# (seeds ending in 3 go to validation).
render_videos() {
  local out=$1 every=$2 seed w h fps gop bf q pigs len props people flags split video
  while read -r seed w h fps gop bf q pigs len props people flags; do
    video="$work/videos/c_$seed.mp4"
    if [ ! -f "$video" ]; then
      # shellcheck disable=SC2086 # flags is a list
      $bin synth video "$video" --width "$w" --height "$h" --fps "$fps" --gop "$gop" \
        --bframes "$bf" --quality "$q" --pigs "$pigs" --pig-length "$len" --props "$props" \
        --people "$people" --duration 10 --seed "$seed" $flags
    fi
    split=train; [ $((seed % 10)) = 3 ] && split=val
    $here/.venv/bin/python $here/video_frames.py "$video" "$out" --split $split --every "$every"
  done
}

# Stage C's data (YOLO26n): dataset26 and envelope videos of seeds 1401-1424, 1431-1436 and
# 1441-1446.
stage26c_data() {
  envelope_videos "$work/c-videos" 1401 1431 1441
  link_dataset "$work/dataset26c" "$work/dataset26" "$work/c-videos:c"
  echo "stage C data made"
}

# Stage D's data (tried after C): stage C's and as many envelope videos again (seeds 1451-1474,
# 1481-1486, 1491-1496).
stage26d_data() {
  envelope_videos "$work/d-videos" 1451 1481 1491
  link_dataset "$work/dataset26d" "$work/dataset26c" "$work/d-videos:d"
  echo "stage D data made"
}

# video_stage STAGE BASE: a stage's data (E to I): the videos the Python script on stdin prints
# the specs of (render_videos' lines), rendered into $work/STAGE-videos, every 3rd frame of each
# beside dataset26BASE's images (made first where they are not there) as dataset26STAGE.
video_stage() {
  local stage=$1 base=$2 specs
  specs=$(python3 -)
  [ -d "$work/dataset26$base" ] || "stage26${base}_data"
  rm -rf "$work/$stage-videos"
  render_videos "$work/$stage-videos" 3 <<< "$specs"
  link_dataset "$work/dataset26$stage" "$work/dataset26$base" "$work/$stage-videos:$stage"
  echo "stage ${stage^^} data made"
}

# Stage E's data (tried after C, instead of D): stage C's and frames of 24 videos of what the
# grids showed C counting as pigs (seeds 1501-1524): small pigs (0.08-0.28 of the short side) on
# CRF 26-38 at 540p to 1080p among many props (4-12; even seeds) or people (1-3; odd seeds),
# a quarter dim or bright; every 3rd frame, so they weigh more than the envelope videos.
stage26e_data() {
  video_stage e c <<'PY'
import random
for seed in range(1501, 1525):
    r = random.Random(seed)
    w, h = r.choice([(960, 540), (1280, 720), (1920, 1080)])
    lo = round(r.uniform(0.08, 0.2), 2); hi = round(lo + r.uniform(0.03, 0.08), 2)
    p0 = r.randint(0, 14); p1 = min(28, p0 + r.randint(2, 12))
    clutter = f"4,{r.randint(6, 12)} 0,1" if seed % 2 == 0 else f"0,{r.randint(0, 4)} 1,{r.randint(1, 3)}"
    flags = ["--exposure", r.choice(["0.3,0.5", "0.5,0.8", "1.2,1.5"])] if r.random() < 0.25 else []
    print(f"{seed} {w} {h} {r.choice([25, 30])} {r.choice([50, 60, 100, 120])} {r.randint(0, 3)} "
          f"{r.randint(26, 38)} {p0},{p1} {lo},{hi} {clutter} " + " ".join(flags))
PY
}

# Stage F's data (tried after E): stage E's and frames of 12 crowded pens (seeds 1531-1542: 12-28
# pigs of 0.14-0.32 at 540p to 1080p and 4:3, CRF 22-34, a few props or a person), every 3rd
# frame, so that learning what is not a pig does not cost the pigs in a crowd (stage E did).
stage26f_data() {
  video_stage f e <<'PY'
import random
for seed in range(1531, 1543):
    r = random.Random(seed)
    w, h = r.choice([(960, 540), (1280, 720), (1920, 1080), (1280, 960)])
    lo = round(r.uniform(0.14, 0.24), 2); hi = round(lo + r.uniform(0.03, 0.08), 2)
    flags = ["--exposure", r.choice(["0.4,0.6", "1.2,1.5"])] if r.random() < 0.25 else []
    print(f"{seed} {w} {h} {r.choice([25, 30])} {r.choice([50, 60, 100])} {r.randint(0, 3)} "
          f"{r.randint(22, 34)} {r.randint(12, 20)},{r.randint(22, 28)} {lo},{hi} "
          f"0,{r.randint(0, 4)} 0,{r.randint(0, 1)} " + " ".join(flags))
PY
}

# Stage G's data: stage C's and frames of 24 videos of people walking through or standing in
# pens of few pigs or none (seeds 1551-1574: 2-4 people, one in four in the pink or white
# clothes C counted as pigs on empty pens; pigs 0.12-0.45 of the short side, so the people are
# of every size; every 4th pen empty), every 3rd frame.
stage26g_data() {
  video_stage g c <<'PY'
import random
for seed in range(1551, 1575):
    r = random.Random(seed)
    w, h = r.choice([(960, 540), (1280, 720), (1920, 1080), (640, 360)])
    lo = round(r.uniform(0.12, 0.4), 2); hi = round(lo + r.uniform(0.03, 0.08), 2)
    p0 = r.randint(0, 8); pigs = "0,0" if seed % 4 == 0 else f"{p0},{p0 + r.randint(2, 8)}"
    flags = ["--exposure", r.choice(["0.4,0.6", "0.6,0.8", "1.2,1.5"])] if r.random() < 0.25 else []
    print(f"{seed} {w} {h} {r.choice([25, 30])} {r.choice([50, 60, 100])} {r.randint(0, 3)} "
          f"{r.randint(22, 37)} {pigs} {lo},{hi} 0,{r.randint(0, 6)} 2,4 " + " ".join(flags))
PY
}

# Stage H's data (tried after G): stage G's and frames of 24 videos of what G gave for the
# people (seeds 1581-1604): eight bright pens (exposure 1.2-1.5), eight crowded ones (14-28
# pigs of 0.15-0.26) and eight pens of pigs among people in pink or white (`--clothes`), every
# 3rd frame.
stage26h_data() {
  video_stage h g <<'PY'
import random
for seed in range(1581, 1605):
    r = random.Random(seed)
    w, h = r.choice([(960, 540), (1280, 720), (1920, 1080)])
    kind = (seed - 1581) % 3
    if kind == 0:
        lo = round(r.uniform(0.14, 0.28), 2); pigs = f"{r.randint(2, 8)},{r.randint(9, 14)}"
        rest = f"0,{r.randint(0, 3)} 0,1 --exposure 1.2,1.5"
    elif kind == 1:
        lo = round(r.uniform(0.15, 0.22), 2); pigs = f"{r.randint(14, 20)},{r.randint(22, 28)}"
        rest = f"0,{r.randint(0, 3)} 0,0"
    else:
        lo = round(r.uniform(0.12, 0.4), 2); pigs = f"{r.randint(1, 4)},{r.randint(5, 10)}"
        rest = f"0,{r.randint(0, 4)} 1,3 --clothes pink,white"
    hi = round(lo + r.uniform(0.03, 0.08), 2)
    print(f"{seed} {w} {h} {r.choice([25, 30])} {r.choice([50, 60, 100])} {r.randint(0, 3)} "
          f"{r.randint(22, 34)} {pigs} {lo},{hi} {rest}")
PY
}

# Stage I's data: stage G's and frames of 24 videos of people in pink or white, the clothes G
# still counted as a pig now and then (seeds 1611-1634: 1-3 people, every 3rd pen empty, the
# others few pigs of 0.12-0.4 of the short side; none bright or crowded, which H's were), every
# 3rd frame.
stage26i_data() {
  video_stage i g <<'PY'
import random
for seed in range(1611, 1635):
    r = random.Random(seed)
    w, h = r.choice([(960, 540), (1280, 720), (1920, 1080), (640, 360)])
    lo = round(r.uniform(0.12, 0.4), 2); hi = round(lo + r.uniform(0.03, 0.08), 2)
    p0 = r.randint(0, 6); pigs = "0,0" if seed % 3 == 0 else f"{p0},{p0 + r.randint(2, 8)}"
    flags = ["--exposure", r.choice(["0.4,0.6", "0.6,0.8"])] if r.random() < 0.2 else []
    print(f"{seed} {w} {h} {r.choice([25, 30])} {r.choice([50, 60, 100])} {r.randint(0, 3)} "
          f"{r.randint(22, 37)} {pigs} {lo},{hi} 0,{r.randint(0, 4)} 1,3 --clothes pink,white "
          + " ".join(flags))
PY
}

# Stage M's data (tried after I): stage I's and frames of 24 videos of what I still counts on
# far pens (seeds 1641-1664): a galvanised trough of pale feed among small pigs was most of its
# misses on the held-out grid's worst cell. Far pens of 0.08-0.18 on CRF 28-38 with troughs
# only, or troughs, buckets and boards (`synth video --prop-kinds`); pens of a few small pigs or
# none among troughs, buckets, boards and dirt; and larger pigs (0.14-0.38) beside troughs, so
# that a trough is learnt as not a pig at every scale. Every 3rd frame.
stage26m_data() {
  video_stage m i <<'PY'
import random
for seed in range(1641, 1665):
    r = random.Random(seed)
    kind = (seed - 1641) % 4
    w, h = r.choice([(960, 540), (1280, 720), (1920, 1080)])
    if kind in (0, 1):
        lo = round(r.uniform(0.08, 0.14), 2); hi = round(lo + r.uniform(0.03, 0.06), 2)
        p0 = r.randint(4, 14); pigs = f"{p0},{min(28, p0 + r.randint(4, 14))}"
        kinds = "feeder" if kind == 0 else "feeder,bucket,board"
        rest = f"2,{r.randint(4, 8)} 0,1 --prop-kinds {kinds}"
        q = r.randint(28, 38)
    elif kind == 2:
        lo = round(r.uniform(0.08, 0.2), 2); hi = round(lo + r.uniform(0.03, 0.06), 2)
        pigs = "0,0" if seed % 8 == 3 else f"1,{r.randint(2, 5)}"
        rest = f"3,{r.randint(5, 9)} 0,1 --prop-kinds feeder,bucket,board,dirt"
        q = r.randint(26, 38)
    else:
        lo = round(r.uniform(0.14, 0.3), 2); hi = round(lo + r.uniform(0.03, 0.08), 2)
        p0 = r.randint(2, 12); pigs = f"{p0},{p0 + r.randint(2, 10)}"
        rest = f"1,{r.randint(3, 6)} 0,1 --prop-kinds feeder"
        q = r.randint(22, 34)
    print(f"{seed} {w} {h} {r.choice([25, 30])} {r.choice([50, 60, 100, 120])} {r.randint(1, 3)} "
          f"{q} {pigs} {lo},{hi} {rest}")
PY
}

if [ "$arch" = yolo26n ]; then
  # A: from the YAML at 320 with mosaics; B: at 480 and sizes around it, without them, counting
  # at 416 (576 for small pigs; models/README.md, "YOLO26n shipped"); C: STAGE26C_EPOCHS more from
  # B's best on the videos of stage26c_data too, at lr 0.0003, small pigs under 0.18 ("Stage C");
  # G: STAGE26G_EPOCHS more from C's best on stage26g_data's people too, at lr 0.0002 ("Stage G");
  # I: STAGE26I_EPOCHS more from G's best on stage26i_data's people in pink or white too, at lr
  # 0.0001 ("Stage I").
  stage8_data
  stage9_data
  yolo26_data
  stage26c_epochs=${STAGE26C_EPOCHS:-3}
  stage26l_epochs=${STAGE26L_EPOCHS:-0}
  if [ "$stage26l_epochs" -gt 0 ] && [ "$stage26c_epochs" -gt 0 ]; then
    echo "stage L goes on from stage B instead of C, G and I: give STAGE26C_EPOCHS=0" >&2
    exit 2
  fi
  stage_b_out=$out
  [ $((stage26c_epochs + stage26l_epochs)) -gt 0 ] && stage_b_out=$work/p26-b.onnx
  stage26d_epochs=${STAGE26D_EPOCHS:-0}
  stage26e_epochs=${STAGE26E_EPOCHS:-0}
  stage26f_epochs=${STAGE26F_EPOCHS:-0}
  # G by default after C, unless C is left out or a try (D, E or F) goes on from C instead.
  default_g=2
  [ $((stage26c_epochs * (stage26d_epochs + stage26e_epochs + stage26f_epochs == 0))) -eq 0 ] && default_g=0
  stage26g_epochs=${STAGE26G_EPOCHS:-$default_g}
  stage26h_epochs=${STAGE26H_EPOCHS:-0}
  # I by default after G, unless G is left out or the try H goes on from G instead.
  default_i=1
  [ $((stage26g_epochs * (stage26h_epochs == 0))) -eq 0 ] && default_i=0
  stage26i_epochs=${STAGE26I_EPOCHS:-$default_i}
  stage26m_epochs=${STAGE26M_EPOCHS:-0}
  stage26p_epochs=${STAGE26P_EPOCHS:-0}
  # one_try_from PARENT STAGES OUT_VAR EPOCHS...: STAGES (their names, "M and P") each go on
  # from stage PARENT's best, with these EPOCHS: at most one of them may have any, and only if
  # PARENT has; PARENT's export then goes to p26-PARENT.onnx instead of OUT (in OUT_VAR).
  one_try_from() {
    local parent=$1 stages=$2 var=$3 given=0 epochs; shift 3
    local parent_epochs=stage26${parent}_epochs
    for epochs; do [ "$epochs" -gt 0 ] && given=$((given + 1)); done
    printf -v "$var" %s "$out"
    [ "$given" -eq 0 ] && return
    if [ "${!parent_epochs}" -eq 0 ]; then
      echo "stages $stages go on from stage ${parent^^}: STAGE26${parent^^}_EPOCHS must not be 0" >&2
      exit 2
    fi
    if [ "$given" -gt 1 ]; then
      echo "stages $stages each go on from stage ${parent^^}: give one of them epochs" >&2
      exit 2
    fi
    printf -v "$var" %s "$work/p26-$parent.onnx"
  }
  one_try_from i "M and P" stage_i_out "$stage26m_epochs" "$stage26p_epochs"
  one_try_from g "H and I" stage_g_out "$stage26h_epochs" "$stage26i_epochs"
  # (G is on by default after C, off where D, E or F is given: D with G is an explicit mistake.)
  one_try_from c "D, E, F and G" stage_c_out "$stage26d_epochs" "$stage26e_epochs" \
    "$stage26f_epochs" "$stage26g_epochs"
  # From stage C on, small pigs are those under 0.18 of the short side ("Stage C shipped").
  small26c=(--count-imgsz-small "${IMGSZ_SMALL:-576}" --count-small-length 0.18)
  # On the CPU the forward passes run in bfloat16 (train.py --bf16; an epoch 1.5x faster where
  # the CPU has bfloat16 instructions, which train.py checks).
  bf16=(); [ "$device" = cpu ] && bf16=(--bf16)
  train "$work/dataset26/data.yaml" "$work/p26-a.onnx" --arch yolo26n.yaml "${depth26[@]}" \
    --augment visible "${bf16[@]}" \
    --imgsz 320 --epochs "${STAGE26A_EPOCHS:-24}" --name $run26-a --count-imgsz 416 "${small[@]}"
  train "$work/dataset26/data.yaml" "$stage_b_out" --augment visible --mosaic 0 "${bf16[@]}" \
    --imgsz 480 --multi-scale 0.15 --epochs "${STAGE26B_EPOCHS:-10}" --name $run26-b \
    --start-from "$work/runs/$run26-a/weights/best.pt" --lr0 0.0005 --count-conf 0.5 \
    --count-iou 0.5 --count-imgsz 416 "${small[@]}"
  if [ "$stage26c_epochs" -gt 0 ]; then
    stage26c_data
    train "$work/dataset26c/data.yaml" "$stage_c_out" --augment visible --mosaic 0 "${bf16[@]}" \
      --imgsz 480 --multi-scale 0.15 --epochs "$stage26c_epochs" --name $run26-c \
      --start-from "$work/runs/$run26-b/weights/best.pt" --lr0 0.0003 --count-conf 0.5 \
      --count-iou 0.5 --count-imgsz 416 "${small26c[@]}"
  fi
  # try_from STAGE FROM EPOCHS IMGSZ LR OUT [DATA]: one stage from stage FROM's best (G and the
  # tries D, E and F from C, I and the try H from G, the try L from B, the try M from I) or
  # from the weights FROM names (a .pt: the try P), on stage DATA's data (default: its own;
  # stage26X_data -> dataset26X), without mosaics, at IMGSZ and sizes around it, exported to OUT.
  try_from() {
    local data=${7:-$1} from=$work/runs/$run26-$2/weights/best.pt
    [[ $2 == *.pt ]] && from=$2
    "stage26${data}_data"
    train "$work/dataset26$data/data.yaml" "$6" --augment visible --mosaic 0 "${bf16[@]}" \
      --imgsz "$4" --multi-scale 0.15 --epochs "$3" --name "$run26-$1" \
      --start-from "$from" --lr0 "$5" --count-conf 0.5 \
      --count-iou 0.5 --count-imgsz 416 "${small26c[@]}"
  }
  [ "$stage26d_epochs" -gt 0 ] && try_from d c "$stage26d_epochs" 416 0.0002 "$out"
  [ "$stage26e_epochs" -gt 0 ] && try_from e c "$stage26e_epochs" 480 0.0003 "$out"
  [ "$stage26f_epochs" -gt 0 ] && try_from f c "$stage26f_epochs" 480 0.0002 "$out"
  [ "$stage26g_epochs" -gt 0 ] && try_from g c "$stage26g_epochs" 480 0.0002 "$stage_g_out"
  [ "$stage26h_epochs" -gt 0 ] && try_from h g "$stage26h_epochs" 480 0.0001 "$out"
  [ "$stage26i_epochs" -gt 0 ] && try_from i g "$stage26i_epochs" 480 0.0001 "$stage_i_out"
  [ "$stage26m_epochs" -gt 0 ] && try_from m i "$stage26m_epochs" 480 0.0001 "$out"
  if [ "$stage26p_epochs" -gt 0 ]; then
    $here/.venv/bin/python $here/deepen.py "$work/runs/$run26-i/weights/best.pt" \
      "$work/deep/$run26-i-d1.0.pt" --depth 1.0
    try_from p "$work/deep/$run26-i-d1.0.pt" "$stage26p_epochs" 480 0.0003 "$out" i
  fi
  [ "$stage26l_epochs" -gt 0 ] && try_from l b "$stage26l_epochs" 480 0.0003 "$out" i
  echo "model made in $(( $(date +%s) - started )) s: $out"
  exit 0
fi

if [ "$from" = scratch ]; then
train "$work/dataset/data.yaml" "$work/stage1.onnx" --imgsz 320 --epochs "$stage1_epochs" \
  --name pigs-stage1 --no-crops
train "$work/dataset/data.yaml" "$work/stage2.onnx" --imgsz 320 --epochs "$stage2_epochs" \
  --name pigs-stage2 --start-from "$work/runs/pigs-stage1/weights/best.pt" --lr0 0.0005
train "$work/dataset/data.yaml" "$work/stage3.onnx" --imgsz "$imgsz" --epochs "$stage3_epochs" \
  --name pigs-stage3 --start-from "$work/runs/pigs-stage2/weights/best.pt" --lr0 0.0005


# Stage 4's data: the dataset above, plus crowded pens and far cameras (seeds 3 and 4; the
# dataset's stills use seed 1).
rm -rf "$work/hard-crowded" "$work/hard-far"
$bin synth dataset "$work/hard-crowded" --train 500 --val 50 --pigs 12,24 --pig-length 0.18,0.32 \
  --seed 3
$bin synth dataset "$work/hard-far" --train 500 --val 50 --pigs 6,18 --pig-length 0.1,0.2 --seed 4
link_dataset "$work/dataset2" "$work/dataset" "$work/hard-crowded:crowded" "$work/hard-far:far"
train "$work/dataset2/data.yaml" "$work/stage4.onnx" --imgsz "$imgsz" --epochs "$stage4_epochs" \
  --name pigs-stage4 --start-from "$work/runs/pigs-stage3/weights/best.pt" --lr0 0.0005

# Stage 5's data: stage 4's, plus herds caught after 5-60 s of movement, crowded and of every
# kind (seeds 5 and 6).
rm -rf "$work/settled-crowded" "$work/settled"
$bin synth dataset "$work/settled-crowded" --train 800 --val 80 --pigs 12,24 \
  --pig-length 0.18,0.32 --moment 5,60 --seed 5
$bin synth dataset "$work/settled" --train 400 --val 40 --moment 5,60 --seed 6
link_dataset "$work/dataset3" "$work/dataset2" "$work/settled-crowded:settled-crowded" \
  "$work/settled:settled"

train "$work/dataset3/data.yaml" "$work/stage5.onnx" --imgsz "$imgsz" --epochs "$stage5_epochs" \
  --name pigs-stage5 --start-from "$work/runs/pigs-stage4/weights/best.pt" --lr0 0.0005

train "$work/dataset3/data.yaml" "$work/stage6.onnx" --imgsz "$imgsz" --epochs "$stage6_epochs" \
  --name pigs-stage6 --start-from "$work/runs/pigs-stage5/weights/best.pt" --lr0 0.0005 \
  --augment visible

train "$work/dataset3/data.yaml" "$work/stage7.onnx" --imgsz "$imgsz" --epochs "$stage7_epochs" \
  --name pigs-stage7 --start-from "$work/runs/pigs-stage6/weights/best.pt" --lr0 0.0005 \
  --augment visible --mosaic 0 --count-conf 0.5 --count-iou 0.5 --count-imgsz "$imgsz"
stage7=$work/runs/pigs-stage7/weights/best.pt
stage8_data
train "$work/dataset4/data.yaml" "$work/stage8.onnx" --imgsz "$imgsz" --epochs "$stage8_epochs" \
  --name pigs-stage8 --start-from "$stage7" --lr0 0.0005 \
  --augment visible --mosaic 0 --count-conf 0.5 --count-iou 0.5 --count-imgsz "$imgsz"
stage8=$work/runs/pigs-stage8/weights/best.pt
stage9_data
stage9_out=$out; [ "$stage10_epochs" -gt 0 ] && stage9_out=$work/stage9.onnx
train "$work/dataset5/data.yaml" "$stage9_out" --imgsz "$imgsz" --epochs "$stage9_epochs" \
  --name pigs-stage9 --start-from "$stage8" --lr0 0.0003 \
  --augment visible --mosaic 0 --count-conf 0.5 --count-iou 0.5 --count-imgsz "$imgsz" "${small[@]}"
stage9=$work/runs/pigs-stage9/weights/best.pt
else
  # FROM=EXPORT.onnx: a YOLOv8n export of stage 9 stands for stages 1-9; its trainable weights
  # are rebuilt from it (models/README.md, "Continuing from an export"), once per export.
  stage9=$work/shipped-$(sha256sum "$from" | cut -c1-12).pt
  if [ ! -f "$stage9" ]; then
    $here/.venv/bin/python $here/weights_from_onnx.py "$from" "$stage9" \
      "$work/dataset/images/train"
  fi
  stage8_data
  stage9_data
fi

[ "$stage10_epochs" -gt 0 ] || { echo "model made in $(( $(date +%s) - started )) s: $out"; exit 0; }
# Stage 10's data: stage 9's with the first dataset back in (its stills and the frames of its
# 640x360 videos are the older held-out cameras' kind).
link_dataset "$work/dataset6" "$work/dataset5" "$work/dataset:first"
# The counting operating point goes into the metadata; models/train/tune.sh compares others.
train "$work/dataset6/data.yaml" "$out" --imgsz "$imgsz" --epochs "$stage10_epochs" \
  --name pigs-stage10 --start-from "$stage9" --lr0 0.0002 \
  --augment visible --mosaic 0 --count-conf 0.5 --count-iou 0.5 --count-imgsz "$imgsz" "${small[@]}"
echo "model made in $(( $(date +%s) - started )) s: $out"
