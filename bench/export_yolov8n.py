"""Exports a YOLOv8n-architecture model with random weights (built from yolov8n.yaml: 80 classes,
no download) to ONNX at a given input size, dynamic batch, as `model.export(format="onnx")`
does for users. Timing does not depend on the weights.

    python export_yolov8n.py OUT_DIR 320 640
"""

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")


def main() -> None:
    import torch
    from ultralytics import YOLO

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for size in (int(s) for s in sys.argv[2:]):
        torch.manual_seed(0)
        model = YOLO("yolov8n.yaml")
        exported = Path(model.export(format="onnx", imgsz=size, dynamic=True, simplify=True, opset=17))
        shutil.move(exported, out / f"yolov8n-{size}.onnx")
        print(out / f"yolov8n-{size}.onnx")


if __name__ == "__main__":
    main()
