"""Trains the sample pig detector from an Ultralytics architecture (YOLOv8n unless `--arch`
says otherwise; no pretrained weights) and
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


def export(
    weights: Path,
    out: Path,
    data: Path,
    imgsz: int,
    count_conf: float,
    count_iou: float,
    count_imgsz: int | None,
    count_imgsz_small: int | None = None,
    count_small_length: float | None = None,
) -> None:
    """Exports `weights` to ONNX at `out` (dynamic axes, opset 17, traced at `imgsz`) with the
    dataset's class names and our counting operating point in its metadata: pigweight uses them
    unless told otherwise (Ultralytics' 0.25 / 0.7 keep duplicates and half-visible pigs)."""
    import onnx
    import yaml
    from ultralytics import YOLO

    from operating_point import set_metadata, set_operating_point

    exported = YOLO(str(weights)).export(
        format="onnx", imgsz=imgsz, dynamic=True, simplify=True, opset=17, device="cpu"
    )
    names = yaml.safe_load(data.read_text())["names"]
    model = onnx.load(str(exported))
    set_metadata(model, {"names": repr({int(k): v for k, v in names.items()})})
    set_operating_point(model, count_conf, count_iou, count_imgsz, count_imgsz_small, count_small_length)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))


# A pig is labelled when at least this much of it is visible: the rule of our labels and counts.
KEEP = 0.5


# With `--augment visible` each label's visible fraction rides through the augmentations in its
# class's fractional part, class + SHARE * fraction, and is floored off before the loss sees it.
SHARE = 0.5


def keep_the_counting_rule(visible: bool) -> None:
    """Makes Ultralytics' cropping augmentations drop the label of a pig they cut below the
    counting rule. Out of the box they keep labels down to a tenth (affine) or any sliver (mosaic
    tiles), which taught the first models to count pigs 20-50 % visible at the frame's edge.

    Without `visible` a crop keeps a label when it keeps at least KEEP of its box: a pig the
    image already showed partly (cut by the frame, covered by another) can end under half, and
    two cuts of one pig compound the same way. With `visible` the rule is the counts' own: the
    pig's visible fraction (read from visible/ beside labels/: `pigweight synth dataset` and
    video_frames.py write it) times the fraction of its box each crop keeps must stay at least
    KEEP, and the label carries what is left into the next crop."""
    from functools import lru_cache

    import numpy as np
    from ultralytics.data.augment import Format, Mosaic, RandomPerspective
    from ultralytics.data.dataset import YOLODataset

    def area(boxes: "np.ndarray") -> "np.ndarray":
        return (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)

    def split(cls: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
        """Classes and visible fractions, both (N, 1)."""
        classes = np.floor(cls)
        return classes, ((cls - classes) / SHARE if visible else np.ones_like(cls))

    def join(classes: "np.ndarray", fractions: "np.ndarray") -> "np.ndarray":
        return classes + SHARE * fractions if visible else classes

    @lru_cache(maxsize=None)
    def fractions_of(im_file: str) -> "np.ndarray":
        images, marked = f"{os.sep}images{os.sep}", f"{os.sep}visible{os.sep}"
        path = Path(marked.join(im_file.rsplit(images, 1))).with_suffix(".txt")
        return np.array(path.read_text().split(), dtype=np.float32).reshape(-1, 1)

    update_labels_info = YOLODataset.update_labels_info

    def update_labels_info_with_fractions(self, label):
        fractions = fractions_of(label["im_file"])
        if len(fractions) != len(label["cls"]):
            raise ValueError(f"{label['im_file']}: {len(label['cls'])} labels, {len(fractions)} visible fractions")
        label["cls"] = join(label["cls"], fractions)
        return update_labels_info(self, label)

    cat_labels = Mosaic._cat_labels

    def cat_labels_by_rule(self, mosaic_labels):
        # Each tile's boxes are in the mosaic's coordinates here, before the canvas clips them.
        size = self.imgsz * 2
        for labels in mosaic_labels:
            instances = labels["instances"]
            instances.convert_bbox(format="xyxy")
            full, cut = area(instances.bboxes), area(instances.bboxes.clip(0, size))
            classes, fractions = split(labels["cls"])
            left = fractions[:, 0] * cut
            kept = left >= KEEP * full
            left = (left / np.maximum(full, 1e-16))[:, None]
            labels["instances"], labels["cls"] = instances[kept], join(classes, left)[kept]
        return cat_labels(self, mosaic_labels)

    candidates = RandomPerspective.box_candidates
    apply_instances = RandomPerspective.apply_instances

    def apply_instances_by_rule(self, labels, params):
        classes, fractions = split(labels["cls"])
        left = []

        def by_rule(box1, box2, wh_thr=2, ar_thr=100, area_thr=0.1, eps=1e-16):
            # box1: the boxes scaled as the image was, box2: moved and clipped to the new image.
            cut = fractions[:, 0] * (box2[2] - box2[0]) * (box2[3] - box2[1])
            cut /= (box1[2] - box1[0]) * (box1[3] - box1[1]) + eps
            kept = candidates(box1, box2, wh_thr, ar_thr, area_thr, eps) & (cut > KEEP)
            left.append(cut[kept][:, None])
            return kept

        self.box_candidates = by_rule  # this call's own, over the class's static method
        try:
            labels = apply_instances(self, labels, params)
        finally:
            del self.box_candidates
        labels["cls"] = join(np.floor(labels["cls"]), left[0])
        return labels

    format_call = Format.__call__

    def format_whole_classes(self, labels):
        labels["cls"] = np.floor(labels["cls"])
        return format_call(self, labels)

    Mosaic._cat_labels = cat_labels_by_rule
    RandomPerspective.apply_instances = apply_instances_by_rule
    if visible:
        YOLODataset.update_labels_info = update_labels_info_with_fractions
        Format.__call__ = format_whole_classes


def cpu_has_bf16() -> bool:
    """Whether the CPU computes in bfloat16 itself (AVX-512 BF16 or AMX), as PyTorch's own CPU
    detection (cpuinfo, the pinned torch's) finds it."""
    import torch

    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def forward_in_bf16() -> None:
    """Runs the network's forward pass of each training step in bfloat16 on the CPU (torch
    autocast: convolutions in bf16, weights, gradients and optimiser in float32), and the loss on
    its outputs cast back to float32, so box coordinates and IoUs keep their precision. A
    YOLO26n step at batch 16 and 320 takes 0.52 s instead of 0.86 s on this CPU (AVX-512 BF16).
    Ultralytics' own `amp="bf16"` is CUDA-only and computes the loss in bf16 as well."""
    import torch
    from ultralytics.nn.tasks import BaseModel

    def to_float(x):
        if torch.is_tensor(x):
            return x.float()
        if isinstance(x, dict):
            return {k: to_float(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return type(x)(to_float(v) for v in x)
        return x

    loss = BaseModel.loss

    def loss_with_bf16_forward(self, batch, preds=None):
        if preds is None and self.training:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                preds = self.forward(batch["img"])
            preds = to_float(preds)
        return loss(self, batch, preds)

    BaseModel.loss = loss_with_bf16_forward


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
        # `--augment counting` or `visible` their labels follow the counting rule
        # (keep_the_counting_rule) and both flips are on (pens are seen from above).
        # `ultralytics` is the library's own augmentation, which made the first models.
        **({} if args.crops else {"mosaic": 0.0, "translate": 0.0, "scale": 0.0}),
        **({"mosaic": args.mosaic} if args.crops and args.mosaic is not None else {}),
        close_mosaic=max(1, args.epochs // 5),
        **({"flipud": 0.5} if args.augment != "ultralytics" else {}),
        patience=0,
        verbose=False,
        multi_scale=args.multi_scale,
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
        "--arch",
        default="yolov8n.yaml",
        help="the network's Ultralytics YAML when starting from random weights (yolov8n.yaml, "
        "yolo26n.yaml, ...)",
    )
    ap.add_argument(
        "--depth",
        type=float,
        help="with --arch: the scale's depth multiple instead of the YAML's (YOLO26n: 0.5; 1.0 "
        "repeats every block twice, the network deepen.py grows from trained weights)",
    )
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
    ap.add_argument("--count-imgsz-small", type=int, help="counting input size for videos of small pigs")
    ap.add_argument(
        "--count-small-length", type=float, help="pigs shorter than this share of the short side are small"
    )
    ap.add_argument("--lr0", type=float, help="initial learning rate (default: Ultralytics' choice)")
    ap.add_argument(
        "--augment",
        choices=["ultralytics", "counting", "visible"],
        default="ultralytics",
        help="Ultralytics' augmentation as it is, or with vertical flips too and crops that keep "
        "labels by the counting rule: by the fraction of each box a crop keeps (counting), or of "
        "each pig, from the dataset's visible/ fractions (visible); models/README.md compares them",
    )
    ap.add_argument(
        "--crops",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the cropping augmentations: mosaic, translate and scale",
    )
    ap.add_argument(
        "--mosaic",
        type=float,
        help="how often a training image is a mosaic of four (default: Ultralytics' 1.0); "
        "translate and scale still crop",
    )
    ap.add_argument(
        "--multi-scale",
        type=float,
        default=0.0,
        help="train each batch at a size drawn from imgsz * (1 ± this), so the model counts at "
        "more than one input size (Ultralytics' multi_scale; 0: imgsz only)",
    )
    ap.add_argument(
        "--bf16",
        action="store_true",
        help="CPU only: the training forward pass in bfloat16 (forward_in_bf16; give it again with "
        "--resume, like --augment)",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue the run of this name from its last finished epoch, if it has one (give the "
        "same --augment: it is applied in this process, not stored with the run)",
    )
    args = ap.parse_args()
    if args.depth is not None and args.start_from:
        ap.error("--depth builds the network from --arch; weights given with --start-from keep theirs")

    os.environ.setdefault("YOLO_OFFLINE", "1")
    import ultralytics.utils.torch_utils
    from ultralytics import YOLO  # after YOLO_OFFLINE is set

    # Ultralytics trains on CPU with one thread fewer than there are cores: one of two here,
    # half the machine. Use them all.
    ultralytics.utils.torch_utils.NUM_THREADS = os.cpu_count() or 1
    if args.augment in ("counting", "visible"):
        keep_the_counting_rule(visible=args.augment == "visible")
    if args.bf16:
        if args.device != "cpu":
            ap.error("--bf16 is for training on the CPU (a GPU trains with Ultralytics' own AMP)")
        if cpu_has_bf16():
            forward_in_bf16()
        else:
            # Emulated, a step takes about five times as long as in float32.
            print("--bf16 left off: this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16)")
    last = args.project.resolve() / args.name / "weights" / "last.pt"
    started = time.monotonic()
    if args.resume and last.exists():
        # Same run, same arguments, from the last finished epoch; a run that has finished (its
        # last.pt stripped, epoch -1) is only exported again.
        import torch

        if torch.load(last, map_location="cpu", weights_only=False)["epoch"] != -1:
            YOLO(str(last)).train(resume=True)
    elif args.start_from:
        train(args, YOLO(str(args.start_from)))
    elif args.depth is not None:
        # Ultralytics' trainer builds a network from random weights out of a YAML file's path,
        # so the deeper one gets its own file. Named without a scale letter Ultralytics would
        # read ("yolo26n"), it is built at the one scale it has.
        import yaml
        from deepen import with_depth
        from ultralytics.nn.tasks import yaml_model_load

        cfg = with_depth(yaml_model_load(args.arch), args.depth)
        for key in ("scale", "yaml_file"):
            del cfg[key]
        arch = args.project.resolve() / f"{args.name}.yaml"
        arch.parent.mkdir(parents=True, exist_ok=True)
        arch.write_text(yaml.safe_dump(cfg, sort_keys=False))
        train(args, YOLO(str(arch)))
    else:
        train(args, YOLO(str(args.arch)))
    trained_s = time.monotonic() - started
    best = args.project.resolve() / args.name / "weights" / "best.pt"
    # Its folder beside the run's (Ultralytics' default is runs/ under the working folder).
    metrics = YOLO(str(best)).val(
        data=str(args.data),
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        plots=False,
        project=str(args.project),
        name=f"{args.name}-val",
        exist_ok=True,
    )
    export(
        best,
        args.out,
        args.data,
        args.imgsz,
        args.count_conf,
        args.count_iou,
        args.count_imgsz,
        args.count_imgsz_small,
        args.count_small_length,
    )
    print(
        f"trained in {trained_s / 60:.1f} min on {args.device}; "
        f"val mAP50 {metrics.box.map50:.4f} mAP50-95 {metrics.box.map:.4f}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
