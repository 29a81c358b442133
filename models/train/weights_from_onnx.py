"""Rebuilds trainable Ultralytics weights from an exported YOLOv8 detector, so that a later stage
can start from an exported model without re-running the stages that made it (hours on a CPU).

    python weights_from_onnx.py YOLOV8N.onnx OUT.pt IMAGES_DIR [--imgsz 416]

The export folds each batch norm into the convolution before it (weight W, bias b); training
wants the batch norm back. Any running mean m and variance v with scale sqrt(v + eps) and shift
m + b give exactly the exported function in evaluation mode. Taking m and v from the network's
own activations on real images (IMAGES_DIR, e.g. the training images) makes training mode, which
normalises by each batch's statistics, start from the same function too.

The rebuilt model is checked against the export on those images before it is written: the
largest difference in the raw outputs (box coordinates in pixels, class scores) is printed, and
the script fails if it exceeds --tolerance.
"""

import argparse
import os
import random
from pathlib import Path


def letterboxed(paths: list[Path], imgsz: int):
    """The images as the exported model's input: RGB, Ultralytics' letterbox to imgsz, 0-1."""
    import cv2
    import numpy as np
    from ultralytics.data.augment import LetterBox

    letterbox = LetterBox(new_shape=(imgsz, imgsz))
    batch = [letterbox(image=cv2.imread(str(path)))[:, :, ::-1].transpose(2, 0, 1) for path in paths]
    return np.stack(batch).astype(np.float32) / 255.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", type=Path, help="an exported YOLOv8n detector")
    ap.add_argument("out", type=Path, help="where the Ultralytics checkpoint (.pt) goes")
    ap.add_argument("images", type=Path, help="a folder of images to measure activations on")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--samples", type=int, default=64, help="images measured (and compared)")
    ap.add_argument("--tolerance", type=float, default=0.05, help="largest output difference allowed")
    args = ap.parse_args()

    os.environ.setdefault("YOLO_OFFLINE", "1")
    import ast

    import numpy as np
    import onnx
    import onnxruntime
    import torch
    from onnx import numpy_helper
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import DetectionModel

    exported = onnx.load(str(args.onnx))
    names = ast.literal_eval({p.key: p.value for p in exported.metadata_props}["names"])
    weights = {t.name: numpy_helper.to_array(t) for t in exported.graph.initializer}

    model = DetectionModel("yolov8n.yaml", nc=len(names), verbose=False)
    model.names = names
    # Ultralytics' export keeps the module names: the folded convolution of `model.2.cv1` (a Conv
    # unit: convolution, batch norm, activation) is `model.2.cv1.conv.weight` and `.bias`.
    by_module = {}
    for name, conv in model.named_modules():
        if isinstance(conv, torch.nn.Conv2d):
            w, b = weights.get(f"{name}.weight"), weights.get(f"{name}.bias")
            if w is None or w.shape != tuple(conv.weight.shape):
                raise SystemExit(f"{args.onnx} has no {name}.weight of shape {tuple(conv.weight.shape)}: not a YOLOv8n export")
            by_module[conv] = (w, b)

    images = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    random.Random(0).shuffle(images)
    batch = letterboxed(images[: args.samples], args.imgsz)

    # Pass 1: the folded network (convolutions with their bias, no batch norm), recording what
    # each folded convolution produces before its bias.
    for conv, (w, b) in by_module.items():
        conv.weight.data = torch.from_numpy(w.copy())
        if b is not None:
            conv.bias = torch.nn.Parameter(torch.from_numpy(b.copy()))
    units = [m for m in model.modules() if isinstance(m, Conv)]
    stats = {}

    def record(unit):
        def hook(_module, inputs, output):
            pre = output - unit.conv.bias.view(1, -1, 1, 1)
            stats[unit] = (pre.mean(dim=(0, 2, 3)), pre.var(dim=(0, 2, 3), unbiased=False))

        return hook

    for unit in units:
        unit.forward = unit.forward_fuse  # conv then activation, as exported
        unit.conv.register_forward_hook(record(unit))
    model.eval()
    with torch.no_grad():
        model(torch.from_numpy(batch))

    # Pass 2: batch norm back, with the measured statistics and a scale and shift that undo it.
    for unit in units:
        mean, var = stats[unit]
        bias = unit.conv.bias.data
        unit.conv._forward_hooks.clear()
        unit.conv.bias = None
        bn = unit.bn
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.data = torch.sqrt(var + bn.eps)
        bn.bias.data = mean + bias
        del unit.forward  # back to Conv.forward: conv, batch norm, activation

    # Check: the rebuilt model against the export, raw outputs, in evaluation mode.
    model.eval()
    with torch.no_grad():
        ours = model(torch.from_numpy(batch))[0].numpy()
    session = onnxruntime.InferenceSession(str(args.onnx), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: batch})[0]
    diff = float(np.abs(ours - theirs).max())
    print(f"{len(units)} convolutions with batch norm rebuilt; largest output difference {diff:.2e} on {len(batch)} images")
    if diff > args.tolerance:
        raise SystemExit(f"the rebuilt model differs from {args.onnx} by {diff} (> {args.tolerance})")

    # The same layout as Ultralytics' own checkpoints, so YOLO(OUT) and --start-from take it.
    model.args = {"imgsz": args.imgsz}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "train_args": {"imgsz": args.imgsz}, "epoch": -1}, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
