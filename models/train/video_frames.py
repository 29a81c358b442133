"""Adds frames of encoded synthetic videos, with YOLO labels from their ground truth, to a
YOLO dataset, so the detector also learns from real x264 artefacts (blocking, smeared motion,
B-frame softness) and not only from JPEG stills.

    python video_frames.py VIDEO DATASET_DIR --split train --every 10

Frames are read in order with OpenCV (frame-exact on these files) and saved losslessly as PNG,
so the only artefacts are the video codec's. A pig gets a label when at least the video's
count threshold of it is visible, the same rule the counts use; `visible/` gets each label's
visible fraction, line for line, as `pigweight synth dataset` writes it.
"""

import argparse
import json
from pathlib import Path

import cv2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--split", choices=["train", "val"], required=True)
    ap.add_argument("--every", type=int, default=10, help="keep every N-th frame")
    args = ap.parse_args()

    truth_path = args.video.with_suffix(".truth.json")
    truth = json.loads(truth_path.read_text())
    width, height, threshold = truth["width"], truth["height"], truth["count_threshold"]
    images = args.dataset / "images" / args.split
    labels = args.dataset / "labels" / args.split
    visible = args.dataset / "visible" / args.split
    for folder in (images, labels, visible):
        folder.mkdir(parents=True, exist_ok=True)

    capture = cv2.VideoCapture(str(args.video), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise SystemExit(f"cannot open {args.video}")
    written = 0
    for index, frame_truth in enumerate(truth["frames"]):
        ok, frame = capture.read()
        if not ok:
            raise SystemExit(f"{args.video}: frame {index} missing (truth has {truth['frame_count']})")
        if index % args.every:
            continue
        assert (frame.shape[1], frame.shape[0]) == (width, height), frame.shape
        name = f"{args.video.stem}_{index:05d}"
        cv2.imwrite(str(images / f"{name}.png"), frame)
        lines, fractions = [], []
        for animal in frame_truth["animals"]:
            if animal["visible_fraction"] < threshold:
                continue
            x1, y1, x2, y2 = animal["box"]
            lines.append(
                f"0 {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}\n"
            )
            fractions.append(f"{animal['visible_fraction']:.4f}\n")
        (labels / f"{name}.txt").write_text("".join(lines))
        (visible / f"{name}.txt").write_text("".join(fractions))
        written += 1
    if capture.read()[0]:
        raise SystemExit(f"{args.video}: more frames than its ground truth")
    print(f"{args.video.name}: {written} frames -> {args.split}")


if __name__ == "__main__":
    main()
