"""A replica of the Python prototype's server, for bench/api.sh to load beside ours: FastAPI on
uvicorn, OpenCV (cv2.VideoCapture) to seek and decode, onnxruntime for the model (the same pre-
and post-processing as bench/inference_reference.py), cv2.imencode for JPEG, results kept in
in-memory dicts as the prototype did. Same paths and parameters as our compat endpoints.

    PROTO_VIDEOS=DIR PROTO_MODEL=MODEL.onnx [PROTO_PRECOUNT=1] \
        uvicorn --app-dir bench prototype:app --port PORT

Videos are addressed by file name (`id=pen720.mp4`). With PROTO_PRECOUNT=1 every frame is read
and counted once at start-up, so count_at_time answers from memory: the prototype at its best,
the counterpart of our finished index.
"""

import os
import threading
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from inference_reference import postprocess, preprocess

MODEL = ort.InferenceSession(os.environ["PROTO_MODEL"], providers=["CPUExecutionProvider"])
INPUT = MODEL.get_inputs()[0]
SIZE = 320
DYNAMIC = isinstance(INPUT.shape[2], str)


class Video:
    def __init__(self, path: Path):
        self.path = path
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise RuntimeError(f"cannot open {path}")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.frames = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.lock = threading.Lock()
        self.counts: dict[int, tuple] = {}
        self.jpegs: dict[tuple, bytes] = {}

    def frame_at(self, t: float) -> int:
        if not (0 <= t <= self.frames / self.fps):
            raise HTTPException(422, "t out of range")
        return min(int(t * self.fps), self.frames - 1)

    def read(self, frame: int):
        with self.lock:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
            ok, image = self.cap.read()
        if not ok:
            raise HTTPException(500, "decode failed")
        return image

    def detect(self, frame: int, image=None):
        if frame not in self.counts:
            image = self.read(frame) if image is None else image
            batch, geometry = preprocess([image], SIZE, 32, DYNAMIC)
            (out,) = MODEL.run(None, {INPUT.name: batch})
            self.counts[frame] = postprocess(out, geometry)[0]
        return self.counts[frame]

    def precount(self):
        cap = cv2.VideoCapture(str(self.path))
        frame = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            self.detect(frame, image)
            frame += 1


VIDEOS = {p.name: Video(p) for p in sorted(Path(os.environ["PROTO_VIDEOS"]).glob("*.mp4"))}
if os.environ.get("PROTO_PRECOUNT") == "1":
    for v in VIDEOS.values():
        v.precount()

app = FastAPI()


def video(id: str) -> Video:
    if id not in VIDEOS:
        raise HTTPException(404, "no such video")
    return VIDEOS[id]


def count_at(id: str, t: float) -> dict:
    v = video(id)
    frame = v.frame_at(t)
    cached = frame in v.counts
    boxes, _, _ = v.detect(frame)
    return {"count": len(boxes), "cached": cached, "t": t, "frame_index": frame}


@app.get("/api/videos")
def list_videos():
    return [{"id": k, "name": k} for k in VIDEOS]


@app.get("/api/video_file/count_at_time")
def count_at_time(id: str, t: float):
    return count_at(id, t)


@app.get("/api/video_file/frame_optimized")
def frame_optimized(id: str, t: float, quality: int = 80, inference: bool = True):
    v = video(id)
    frame = v.frame_at(t)
    key = (frame, quality, inference)
    if key not in v.jpegs:
        image = v.read(frame)
        if inference:
            boxes, _, _ = v.detect(frame, image)
            for x1, y1, x2, y2 in boxes.astype(int):
                cv2.rectangle(image, (x1, y1), (x2, y2), (0, 255, 0), 2)
            cv2.putText(image, str(len(boxes)), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        v.jpegs[key] = jpeg.tobytes()
    return Response(v.jpegs[key], media_type="image/jpeg", headers={"X-Frame-Index": str(frame)})


@app.websocket("/ws/count")
async def ws_count(ws: WebSocket, id: str):
    await ws.accept()
    try:
        while True:
            msg = await ws.receive_json()
            if msg.get("type") in ("seek", "play", "pause"):
                try:
                    answer = await run_in_threadpool(count_at, id, float(msg["t"]))
                    await ws.send_json({"type": "count_update", **answer})
                except HTTPException as e:
                    await ws.send_json({"type": "error", "message": e.detail})
    except WebSocketDisconnect:
        pass
