"""Trains the sample pig detector from the YOLOv8n architecture (no pretrained weights) and
exports it to ONNX with a dynamic batch axis and the class names in its metadata.

    python train.py DATASET_DIR/data.yaml OUT.onnx --imgsz 320 --epochs 30

Run it through `make model` (models/train/make_model.sh), which makes the dataset first.
Nothing here touches the network: YOLO_OFFLINE=1, the model is built from its YAML, and
plots are off (they would fetch a font).
"""

import argparse
import os
import time
from pathlib import Path


def finish(
    exported: Path, out: Path, data: Path, count_conf: float, count_iou: float, count_imgsz: int | None
) -> None:
    """Writes the export to `out` with the dataset's class names and our counting operating
    point in its metadata: pigweight uses them unless told otherwise (Ultralytics' 0.25 / 0.7
    keep duplicates and half-visible pigs)."""
    import onnx
    import yaml

    from operating_point import set_operating_point

    names = yaml.safe_load(data.read_text())["names"]
    model = onnx.load(str(exported))
    props = {p.key: p.value for p in model.metadata_props}
    props["names"] = repr({int(k): v for k, v in names.items()})
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    set_operating_point(model, count_conf, count_iou, count_imgsz)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))


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
    ap.add_argument("--name", default="pigs", help="run name under the project folder")
    ap.add_argument(
        "--start-from",
        type=Path,
        help="continue from these weights (our own earlier stage) instead of the YAML's random init",
    )
    ap.add_argument(
        "--count-conf",
        type=float,
        default=0.5,
        help="counting confidence written into the model's metadata (chosen on the tuning videos)",
    )
    ap.add_argument("--count-iou", type=float, default=0.5, help="counting NMS IoU, likewise")
    ap.add_argument("--count-imgsz", type=int, help="counting input size, likewise (default: --imgsz)")
    ap.add_argument("--lr0", type=float, help="initial learning rate (default: Ultralytics' choice)")
    args = ap.parse_args()

    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO  # after YOLO_OFFLINE is set

    model = YOLO(str(args.start_from) if args.start_from else "yolov8n.yaml")
    extra = {"lr0": args.lr0, "optimizer": "AdamW", "warmup_epochs": 0} if args.lr0 else {}
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
        pretrained=bool(args.start_from),
        amp=args.device != "cpu",
        plots=False,
        project=str(args.project.resolve()),
        name=args.name,
        exist_ok=True,
        close_mosaic=max(1, args.epochs // 5),
        patience=0,
        verbose=False,
        **extra,
    )
    trained_s = time.monotonic() - started
    best = args.project.resolve() / args.name / "weights" / "best.pt"
    trained = YOLO(str(best))
    metrics = trained.val(data=str(args.data), imgsz=args.imgsz, batch=args.batch, device=args.device, plots=False)
    exported = Path(
        trained.export(format="onnx", imgsz=args.imgsz, dynamic=True, simplify=True, opset=17, device="cpu")
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    finish(exported, args.out, args.data, args.count_conf, args.count_iou, args.count_imgsz)
    print(
        f"trained in {trained_s / 60:.1f} min on {args.device}; "
        f"val mAP50 {metrics.box.map50:.4f} mAP50-95 {metrics.box.map:.4f}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
