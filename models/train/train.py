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

    from operating_point import set_metadata, set_operating_point

    names = yaml.safe_load(data.read_text())["names"]
    model = onnx.load(str(exported))
    set_metadata(model, {"names": repr({int(k): v for k, v in names.items()})})
    set_operating_point(model, count_conf, count_iou, count_imgsz)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))


# A pig is labelled when at least this much of it is visible: the rule of our labels and counts.
KEEP = 0.5


def keep_the_counting_rule() -> None:
    """Makes Ultralytics' cropping augmentations drop the label of a pig they cut to less than
    KEEP of its labelled box. Out of the box they keep labels down to a tenth (affine) or any
    sliver (mosaic tiles), which taught the first models to count pigs 20-50 % visible at the
    frame's edge. The cut fraction is of the box as labelled, so a pig the data already showed
    partly can end a little under half; two cuts of one pig can compound the same way."""
    import numpy as np
    from ultralytics.data.augment import Mosaic, RandomPerspective

    def area(boxes: "np.ndarray") -> "np.ndarray":
        return (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)

    cat_labels = Mosaic._cat_labels

    def cat_labels_by_rule(self, mosaic_labels):
        # Each tile's boxes are in the mosaic's coordinates here, before the canvas clips them.
        size = self.imgsz * 2
        for labels in mosaic_labels:
            instances = labels["instances"]
            instances.convert_bbox(format="xyxy")
            full = area(instances.bboxes)
            kept = area(instances.bboxes.clip(0, size)) >= KEEP * full
            labels["instances"], labels["cls"] = instances[kept], labels["cls"][kept]
        return cat_labels(self, mosaic_labels)

    box_candidates = RandomPerspective.box_candidates

    def box_candidates_by_rule(box1, box2, wh_thr=2, ar_thr=100, area_thr=0.1, eps=1e-16):
        return box_candidates(box1, box2, wh_thr, ar_thr, max(area_thr, KEEP), eps)

    Mosaic._cat_labels = cat_labels_by_rule
    RandomPerspective.box_candidates = staticmethod(box_candidates_by_rule)


def train(args: argparse.Namespace, model) -> None:
    """A new run under `args.project / args.name` (an earlier one of that name is replaced)."""
    extra = {"lr0": args.lr0, "optimizer": "AdamW", "warmup_epochs": 0} if args.lr0 else {}
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
        # Crops (mosaic tiles, translate, scale) cut pigs at the new image's edge. With
        # `--augment counting` their labels follow the counting rule (keep_the_counting_rule)
        # and both flips are on (pens are seen from above): the shipped model's recipe.
        # `ultralytics` is the library's own augmentation, which made the model before it.
        **({} if args.crops else {"mosaic": 0.0, "translate": 0.0, "scale": 0.0}),
        close_mosaic=max(1, args.epochs // 5),
        **({"flipud": 0.5} if args.augment == "counting" else {}),
        patience=0,
        verbose=False,
        **extra,
    )


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
    ap.add_argument(
        "--augment",
        choices=["ultralytics", "counting"],
        default="ultralytics",
        help="Ultralytics' augmentation as it is (the previous model), or with crops that keep "
        "labels by the counting rule and vertical flips too (the shipped model; models/README.md "
        "compares them)",
    )
    ap.add_argument(
        "--crops",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the cropping augmentations: mosaic, translate and scale",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue the run of this name from its last finished epoch, if it has one (give the "
        "same --augment: it is applied in this process, not stored with the run)",
    )
    args = ap.parse_args()

    os.environ.setdefault("YOLO_OFFLINE", "1")
    import ultralytics.utils.torch_utils
    from ultralytics import YOLO  # after YOLO_OFFLINE is set

    # Ultralytics trains on CPU with one thread fewer than there are cores: one of two here,
    # half the machine. Use them all.
    ultralytics.utils.torch_utils.NUM_THREADS = os.cpu_count() or 1
    if args.augment == "counting":
        keep_the_counting_rule()
    last = args.project.resolve() / args.name / "weights" / "last.pt"
    started = time.monotonic()
    if args.resume and last.exists():
        # Same run, same arguments, from the last finished epoch.
        YOLO(str(last)).train(resume=True)
    else:
        train(args, YOLO(str(args.start_from) if args.start_from else "yolov8n.yaml"))
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
