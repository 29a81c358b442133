"""Writes a model's counting operating point into its ONNX metadata: the confidence, NMS IoU and
input size that pigweight counts with unless told otherwise (chosen with tune.sh on the tuning
videos), and the larger input for videos whose pigs are small (`count_imgsz_small`, below
`count_small_length` of the frame's short side). The weights and Ultralytics' own keys
(`imgsz`, the training size) stay as they are.

    python operating_point.py MODEL.onnx [--out OUT.onnx] --conf 0.6 --iou 0.5 --imgsz 416 \
        [--imgsz-small 512 --small-length 0.2]
"""

import argparse
from pathlib import Path


def set_metadata(model, updates: dict[str, str]) -> None:
    """Sets these metadata keys on a loaded model, keeping the others and their order."""
    props = {p.key: p.value for p in model.metadata_props}
    props.update(updates)
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def set_operating_point(
    model,
    conf: float,
    iou: float,
    imgsz: int | None,
    imgsz_small: int | None = None,
    small_length: float | None = None,
) -> None:
    """Sets `count_confidence`, `count_iou` and (when given) `count_imgsz`, `count_imgsz_small`
    and `count_small_length` on a loaded model."""
    updates = {"count_confidence": str(conf), "count_iou": str(iou)}
    if imgsz is not None:
        updates["count_imgsz"] = str(imgsz)
    if imgsz_small is not None:
        updates["count_imgsz_small"] = str(imgsz_small)
    if small_length is not None:
        updates["count_small_length"] = str(small_length)
    set_metadata(model, updates)


def main() -> None:
    import onnx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--out", type=Path, help="default: rewrite MODEL in place")
    ap.add_argument("--conf", type=float, required=True)
    ap.add_argument("--iou", type=float, required=True)
    ap.add_argument("--imgsz", type=int, help="square input size to count at")
    ap.add_argument("--imgsz-small", type=int, help="larger square input for videos of small pigs")
    ap.add_argument("--small-length", type=float, help="pigs shorter than this share of the short side are small")
    args = ap.parse_args()
    model = onnx.load(str(args.model))
    set_operating_point(model, args.conf, args.iou, args.imgsz, args.imgsz_small, args.small_length)
    onnx.save(model, str(args.out or args.model))


if __name__ == "__main__":
    main()
