"""Runs Ultralytics' own predict on the shipped model and the reference images, and writes what
it found as the expected output of our inference (crates/inference/tests/ultralytics.rs checks
that our pre- and post-processing give the same detections within 1 px).

    python ultralytics_reference.py [MODEL] [IMAGE_DIR]

Defaults: models/pigs.onnx and crates/inference/tests/data/ultralytics. `make model`
runs it after exporting, so the expectations always belong to the committed model. The images
are lossless PNG frames of synthetic pens (made with `pigweight synth video` + `pigweight frame`)
in three shapes, so the letterbox pads along either axis.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

CONF, IOU, MAX_DET = 0.25, 0.7, 300


def main() -> None:
    from ultralytics import YOLO, __version__

    model_path = Path(sys.argv[1] if len(sys.argv) > 1 else "models/pigs.onnx")
    image_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "crates/inference/tests/data/ultralytics")
    import onnx

    # A dynamic-shape export predicts at Ultralytics' default 640 unless told; give it the size
    # it was trained at (its `imgsz` metadata), which is what our detector uses.
    meta = {p.key: p.value for p in onnx.load(str(model_path), load_external_data=False).metadata_props}
    imgsz = json.loads(meta["imgsz"])
    model = YOLO(str(model_path), task="detect")
    images = {}
    for image in sorted(image_dir.glob("*.png")):
        # Ultralytics reads with cv2 (BGR) and letterboxes to the minimal rect shape for a
        # dynamic ONNX model, as our detector does.
        (result,) = model.predict(
            source=str(image), imgsz=imgsz, conf=CONF, iou=IOU, max_det=MAX_DET, device="cpu", verbose=False
        )
        boxes = result.boxes
        images[image.name] = [
            {"box": [round(float(v), 3) for v in xyxy], "score": round(float(score), 5), "class": int(cls)}
            for xyxy, score, cls in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist())
        ]
    expected = {
        "ultralytics": __version__,
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "imgsz": imgsz,
        "conf": CONF,
        "iou": IOU,
        "max_det": MAX_DET,
        "images": images,
    }
    out = image_dir / "expected.json"
    out.write_text(json.dumps(expected, indent=1) + "\n")
    print(f"{out}: {sum(len(d) for d in images.values())} detections over {len(images)} images")


if __name__ == "__main__":
    main()
