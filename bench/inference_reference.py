"""The Python prototype's way to run a YOLO model, timed like crates/inference/benches/inference.rs:
onnxruntime with a cv2 letterbox (Ultralytics' LetterBox, minimal "rect" padding for a dynamic
model), numpy normalisation and decoding, and cv2's class-aware NMS.

    python inference_reference.py --frames DIR --json OUT.json [--batches 1,2,4,8]
        [--repeats N] [--threads N] MODEL.onnx...

Frames are read once with cv2 (BGR, as a prototype gets them); the BGR->RGB flip is part of
preprocessing, as in Ultralytics.
"""

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

CONF, IOU, MAX_DET, PAD = 0.25, 0.7, 300, 114


def letterbox_shape(w, h, size, stride, dynamic):
    r = min(size / w, size / h)
    nw, nh = round(w * r), round(h * r)
    if not dynamic:
        return size, size, r, nw, nh
    iw = nw + (size - nw) % stride
    ih = nh + (size - nh) % stride
    return iw, ih, r, nw, nh


def preprocess(frames, size, stride, dynamic):
    h, w = frames[0].shape[:2]
    iw, ih, r, nw, nh = letterbox_shape(w, h, size, stride, dynamic)
    dw, dh = (iw - nw) / 2, (ih - nh) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    batch = np.empty((len(frames), 3, ih, iw), dtype=np.float32)
    for i, f in enumerate(frames):
        im = cv2.resize(f, (nw, nh), interpolation=cv2.INTER_LINEAR)
        im = cv2.copyMakeBorder(im, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD, PAD, PAD))
        batch[i] = im[..., ::-1].transpose(2, 0, 1) / 255.0
    return batch, (r, left, top, w, h)


def postprocess(out, geometry):
    r, left, top, w, h = geometry
    results = []
    for pred in out:  # [4 + nc, anchors]
        pred = pred.T
        scores = pred[:, 4:]
        cls = scores.argmax(1)
        conf = scores[np.arange(len(cls)), cls]
        keep = conf >= CONF
        xywh, conf, cls = pred[keep, :4], conf[keep], cls[keep]
        boxes = np.empty_like(xywh)
        boxes[:, 0] = (xywh[:, 0] - xywh[:, 2] / 2 - left) / r
        boxes[:, 1] = (xywh[:, 1] - xywh[:, 3] / 2 - top) / r
        boxes[:, 2] = xywh[:, 2] / r
        boxes[:, 3] = xywh[:, 3] / r
        idx = cv2.dnn.NMSBoxesBatched(boxes.tolist(), conf.tolist(), cls.tolist(), CONF, IOU, top_k=MAX_DET)
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        b = boxes[idx]
        xyxy = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
        results.append((xyxy, conf[idx], cls[idx]))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--frames", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--batches", default="1,2,4,8")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    frames = [cv2.imread(str(p)) for p in sorted(args.frames.glob("*.png"))]
    results = []
    for model in args.models:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = args.threads
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as ours
        session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        size = int(json.loads(meta.get("imgsz", "[640, 640]"))[0])
        stride = int(meta.get("stride", "32"))
        dynamic = isinstance(session.get_inputs()[0].shape[2], str)
        name = session.get_inputs()[0].name
        for batch in (int(b) for b in args.batches.split(",")):
            chunk = [frames[i % len(frames)] for i in range(batch)]
            times, detections = [], 0
            for rep in range(args.repeats + 3):
                t0 = time.perf_counter()
                tensor, geometry = preprocess(chunk, size, stride, dynamic)
                t1 = time.perf_counter()
                (out,) = session.run(None, {name: tensor})
                t2 = time.perf_counter()
                dets = postprocess(out, geometry)
                t3 = time.perf_counter()
                if rep >= 3:  # warm-up excluded
                    times.append((t1 - t0, t2 - t1, t3 - t2))
                    detections += sum(len(d[0]) for d in dets)
            per = np.asarray(times) * 1e3 / batch
            total = per.sum(1)
            pre, run, post = (float(np.median(per[:, k])) for k in range(3))
            results.append({
                "model": model.name,
                "input": [int(tensor.shape[3]), int(tensor.shape[2])],
                "batch": batch,
                "preprocess_ms": pre,
                "run_ms": run,
                "postprocess_ms": post,
                "total_ms": float(np.median(total)),
                "total_p95_ms": float(np.percentile(total, 95, method="nearest")),
                "overhead": (pre + post) / run,
                "images_per_s": 1e3 / float(np.median(total)),
                "detections_per_image": detections / (args.repeats * batch),
            })
            print(results[-1], flush=True)
    report = {"onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__, "batches": results}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
