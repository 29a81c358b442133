"""Trains the sample pig detector from the YOLOv8n architecture (no pretrained weights) and
exports it to ONNX with a dynamic batch axis and the class names in its metadata.

    python train.py DATASET_DIR/data.yaml OUT.onnx --imgsz 320 --epochs 30

Run it through `make model` (models/train/make_model.sh), which makes the dataset first.
Nothing here touches the network: YOLO_OFFLINE=1, the model is built from its YAML, and
plots are off (they would fetch a font).
"""

import argparse
import os
import shutil
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="YOLO data.yaml")
    ap.add_argument("out", type=Path, help="where the exported .onnx goes")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or a CUDA index such as 0")
    ap.add_argument("--project", type=Path, default=Path("runs"))
    args = ap.parse_args()

    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO  # after YOLO_OFFLINE is set

    model = YOLO("yolov8n.yaml")
    started = time.monotonic()
    model.train(
        data=str(args.data),
        imgsz=args.imgsz,
        epochs=args.epochs,
        batch=args.batch,
        seed=args.seed,
        deterministic=True,
        device=args.device,
        workers=0 if args.device == "cpu" else 8,
        pretrained=False,
        amp=args.device != "cpu",
        plots=False,
        project=str(args.project.resolve()),
        name="pigs",
        exist_ok=True,
        single_cls=True,
        close_mosaic=max(1, args.epochs // 5),
        patience=0,
        verbose=False,
    )
    trained_s = time.monotonic() - started
    best = args.project.resolve() / "pigs" / "weights" / "best.pt"
    trained = YOLO(str(best))
    metrics = trained.val(data=str(args.data), imgsz=args.imgsz, batch=args.batch, device=args.device, plots=False)
    exported = Path(
        trained.export(format="onnx", imgsz=args.imgsz, dynamic=True, simplify=True, opset=17, device="cpu")
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(exported, args.out)
    print(
        f"trained in {trained_s / 60:.1f} min on {args.device}; "
        f"val mAP50 {metrics.box.map50:.4f} mAP50-95 {metrics.box.map:.4f}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
