"""Exports a training run's weights to ONNX the way train.py does at the end of a run (dynamic
axes, opset 17, the class names and the counting operating point in the metadata), for a run
stopped before its last epoch.

    python export.py RUN/weights/best.pt OUT.onnx DATASET/data.yaml [--imgsz 416]
        [--imgsz-small 512 --small-length 0.15]
"""

import argparse
import os
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("data", type=Path, help="the run's data.yaml (class names)")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--count-conf", type=float, default=0.5)
    ap.add_argument("--count-iou", type=float, default=0.5)
    ap.add_argument("--imgsz-small", type=int, help="the input for videos of small pigs (train.py --count-imgsz-small)")
    ap.add_argument("--small-length", type=float, help="what small is (train.py --count-small-length)")
    args = ap.parse_args()

    os.environ.setdefault("YOLO_OFFLINE", "1")
    from train import export  # after YOLO_OFFLINE is set

    export(
        args.weights,
        args.out,
        args.data,
        args.imgsz,
        args.count_conf,
        args.count_iou,
        args.imgsz,
        args.imgsz_small,
        args.small_length,
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
