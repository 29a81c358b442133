#!/usr/bin/env python3
"""The reference side of the decode benchmark: the Python prototype's approach, timed.

On the same files and, given `--plan` (the JSON that `cargo bench -p pigweight-decode --bench
decode` writes), on exactly the same target frames as our decoder:

- OpenCV (`cv2.VideoCapture(path, cv2.CAP_FFMPEG)`, `set(CAP_PROP_POS_FRAMES, n)`, `read()`):
  random exact seek, the prototype's scrub (a seek per step), sequential decode.
- PyAV accurate seek: `container.seek` to the keyframe at or before the target (backward=True,
  any_frame=False), then decode forward to the exact frame; PyAV keyframe seek; PyAV scrub by
  decoding forward from the previous step; sequential decode (with and without RGB conversion)
  and keyframes-only decode (`skip_frame = "NONKEY"`).

Every timed operation ends with an RGB (or, for OpenCV, BGR) array in hand, as ours does.

It also checks that "frame n" means the same frame everywhere: OpenCV's frame n after a seek and
our frame n (subsampled dumps written by the Rust bench) are compared with frame n of a plain
sequential PyAV decode, and with its neighbours n-1 and n+1. Mismatches are reported, not fatal.

Usage: reference.py --plan ours.json [--json out.json] [FILE...]
Without --plan, targets are drawn here with a fixed seed (same counts, not the same frames).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

SCRUB_STEP_S = 0.2
SCRUB_STEPS = 15
READ_RUNS = 3
CHECK_SUBSAMPLE = 4


def summarize(xs: list[float]) -> dict:
    s = sorted(xs)
    n = len(s)
    rank = lambda p: s[min(max(int(np.ceil(p * n)), 1), n) - 1]  # noqa: E731 nearest rank, as in Rust
    return {
        "n": n,
        "median": statistics.median(s),
        "p95": rank(0.95),
        "mean": sum(s) / n,
        "min": s[0],
        "max": s[-1],
    }


def now() -> float:
    return time.perf_counter()


class Sequential:
    """One untimed PyAV pass: pts and keyframe flag of every frame, in presentation order."""

    def __init__(self, path: Path, keep: set[int]):
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            self.time_base = s.time_base
            self.pts: list[int] = []
            self.key: list[bool] = []
            self.kept: dict[int, np.ndarray] = {}
            for i, f in enumerate(c.decode(s)):
                self.pts.append(f.pts)
                self.key.append(bool(f.key_frame))
                if i in keep:
                    self.kept[i] = f.to_ndarray(format="rgb24")[::CHECK_SUBSAMPLE, ::CHECK_SUBSAMPLE]
            self.width, self.height = s.codec_context.width, s.codec_context.height
            self.fps = float(s.average_rate)
        if self.pts != sorted(self.pts):
            print(f"reference: {path.name}: PyAV frames are not in pts order", file=sys.stderr)
        self.keyframes = [i for i, k in enumerate(self.key) if k]

    def keyframe_at_or_before(self, n: int) -> int:
        return max(k for k in self.keyframes if k <= n)

    def index_at(self, t: float) -> int:
        """The frame on screen t seconds after the first frame (same rule as our Timeline)."""
        target = self.pts[0] + round(t / self.time_base)
        return max(i for i, p in enumerate(self.pts) if p <= target)


def opencv_seek(cap: cv2.VideoCapture, n: int) -> np.ndarray:
    cap.set(cv2.CAP_PROP_POS_FRAMES, n)
    ok, frame = cap.read()
    if not ok:
        raise RuntimeError(f"OpenCV could not read frame {n}")
    return frame


class PyAvSource:
    """An open PyAV container that remembers where its decoder is, for forward decoding."""

    def __init__(self, path: Path, seq: Sequential):
        self.c = av.open(str(path))
        self.s = self.c.streams.video[0]
        self.seq = seq
        self.frames = None  # the decode generator after the last seek
        self.mismatches = 0

    def close(self):
        self.c.close()

    def _seek_keyframe(self, k: int):
        self.c.seek(self.seq.pts[k], backward=True, any_frame=False, stream=self.s)
        self.frames = self.c.decode(self.s)

    def _forward_to(self, n: int) -> np.ndarray:
        want = self.seq.pts[n]
        for f in self.frames:
            if f.pts is None or f.pts < want:
                continue
            if f.pts != want:
                self.mismatches += 1
            return f.to_ndarray(format="rgb24")
        raise RuntimeError(f"PyAV: stream ended before frame {n}")

    def accurate(self, n: int) -> np.ndarray:
        self._seek_keyframe(self.seq.keyframe_at_or_before(n))
        return self._forward_to(n)

    def keyframe(self, k: int) -> np.ndarray:
        self._seek_keyframe(k)
        f = next(self.frames)
        if f.pts != self.seq.pts[k]:
            self.mismatches += 1
        return f.to_ndarray(format="rgb24")

    def forward(self, n: int) -> np.ndarray:
        """Decode on from the current position (the scrub step); seeks only at the start."""
        if self.frames is None:
            return self.accurate(n)
        return self._forward_to(n)


def time_read(path: Path, mode: str) -> dict:
    runs = []
    frames = 0
    for _ in range(READ_RUNS):
        n = 0
        t = now()
        if mode == "opencv":
            cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
            while True:
                ok, _ = cap.read()
                if not ok:
                    break
                n += 1
            cap.release()
        else:
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                if mode == "pyav_keyframes":
                    s.codec_context.skip_frame = "NONKEY"
                for f in c.decode(s):
                    if mode == "pyav_rgb":
                        f.to_ndarray(format="rgb24")
                    n += 1
        runs.append(now() - t)
        frames = n
    med = statistics.median(runs)
    return {"frames": frames, "runs_s": runs, "median_s": med, "fps": frames / med}


def colour_fitted_mad(img: np.ndarray, ref: np.ndarray) -> float:
    """Mean absolute difference after the best affine colour map from `ref` to `img`.

    GStreamer's videoconvert and FFmpeg's swscale may use different YUV matrices and rounding, so
    the same frame differs by a colour transform; neighbouring frames differ by motion too.
    """
    x = np.hstack([ref.reshape(-1, 3).astype(np.float64), np.ones((ref.shape[0] * ref.shape[1], 1))])
    y = img.reshape(-1, 3).astype(np.float64)
    w, *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(np.mean(np.abs(x @ w - y)))


def compare(name: str, n: int, img: np.ndarray, neighbours: dict[int, np.ndarray]) -> dict:
    """Which of the sequential frames n-1, n, n+1 `img` (subsampled RGB) is."""
    d = {str(m): round(colour_fitted_mad(img, f), 3) for m, f in neighbours.items()}
    best = min(neighbours, key=lambda m: d[str(m)])
    return {"who": name, "index": n, "mad": d, "closest": best, "ok": best == n}


def plan_for(seq: Sequential, duration: float, seeks: int, seed: int) -> dict:
    rng = random.Random(seed)
    n = len(seq.pts)
    random_indices = [rng.randrange(n) for _ in range(seeks)]
    span = SCRUB_STEP_S * SCRUB_STEPS
    scrub = []
    for _ in range(-(-seeks // SCRUB_STEPS)):
        t0 = rng.uniform(0, max(duration - span - 0.1, 0.01))
        scrub.append([seq.index_at(t0 + k * SCRUB_STEP_S) for k in range(SCRUB_STEPS + 1)])
    kf = [seq.keyframe_at_or_before(seq.index_at(rng.uniform(0, duration))) for _ in range(seeks)]
    return {
        "random_indices": random_indices,
        "scrub_indices": scrub,
        "keyframe_indices": kf,
        "check_indices": random_indices[:4],
    }


def bench_file(path: Path, plan: dict | None, ours: dict | None, seeks: int, seed: int) -> dict:
    check = set(plan["check_indices"]) if plan else set()
    keep = set()
    for n in check:
        keep.update({n - 1, n, n + 1})
    seq = Sequential(path, keep)
    frames = len(seq.pts)
    duration = frames / seq.fps
    if plan is None:
        plan = plan_for(seq, duration, seeks, seed)
        for n in plan["check_indices"]:
            keep.update({n - 1, n, n + 1})
        seq = Sequential(path, keep)
    report: dict = {
        "file": path.name,
        "frames": frames,
        "width": seq.width,
        "height": seq.height,
        "keyframes": len(seq.keyframes),
        "opencv_version": cv2.__version__,
        "pyav_version": av.__version__,
        "ffmpeg_version": av.library_versions.get("libavcodec"),
    }
    if ours is not None and ours["frames"] != frames:
        report["frame_count_mismatch"] = {"ours": ours["frames"], "pyav": frames}

    # Sequential reads.
    report["opencv_sequential"] = time_read(path, "opencv")
    report["pyav_sequential"] = time_read(path, "pyav")
    report["pyav_sequential_rgb"] = time_read(path, "pyav_rgb")
    report["pyav_keyframes_read"] = time_read(path, "pyav_keyframes")
    kr = report["pyav_keyframes_read"]
    kr["video_s_per_s"] = duration / kr["median_s"]

    # OpenCV random exact seeks, and the cross-check on the first few.
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    report["opencv_frame_count"] = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    opencv_seek(cap, frames // 2)  # warm-up
    times = []
    checks = []
    for n in plan["random_indices"]:
        t = now()
        img = opencv_seek(cap, n)
        times.append((now() - t) * 1e3)
        if n in check:
            nb = {m: seq.kept[m] for m in (n - 1, n, n + 1) if m in seq.kept}
            rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)[::CHECK_SUBSAMPLE, ::CHECK_SUBSAMPLE]
            checks.append(compare("opencv", n, rgb, nb))
    report["opencv_random_exact_ms"] = summarize(times)

    # The prototype's scrub: a seek per step.
    steps = []
    for seqn in plan["scrub_indices"]:
        opencv_seek(cap, seqn[0])
        for n in seqn[1:]:
            t = now()
            opencv_seek(cap, n)
            steps.append((now() - t) * 1e3)
    report["opencv_scrub_step_ms"] = summarize(steps)
    cap.release()

    # PyAV.
    src = PyAvSource(path, seq)
    src.accurate(frames // 2)  # warm-up
    times = []
    for n in plan["random_indices"]:
        t = now()
        src.accurate(n)
        times.append((now() - t) * 1e3)
    report["pyav_random_exact_ms"] = summarize(times)
    steps = []
    for seqn in plan["scrub_indices"]:
        src.accurate(seqn[0])
        for n in seqn[1:]:
            t = now()
            src.forward(n)
            steps.append((now() - t) * 1e3)
    report["pyav_scrub_step_ms"] = summarize(steps)
    times = []
    for k in plan["keyframe_indices"]:
        t = now()
        src.keyframe(k)
        times.append((now() - t) * 1e3)
    report["pyav_keyframe_seek_ms"] = summarize(times)
    report["pyav_seek_mismatches"] = src.mismatches
    src.close()

    # Our frames, dumped by the Rust bench, against PyAV's sequential decode.
    for cf in (ours or {}).get("check_frames", []):
        n = cf["index"]
        raw = np.fromfile(cf["path"], dtype=np.uint8).reshape(cf["height"], cf["width"], 3)
        nb = {m: seq.kept[m] for m in (n - 1, n, n + 1) if m in seq.kept}
        checks.append(compare("ours", n, raw, nb))
    report["frame_checks"] = checks
    report["frame_check_failures"] = [c for c in checks if not c["ok"]]
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--plan", type=Path, help="JSON written by the Rust decode bench")
    ap.add_argument("--json", type=Path, help="where to write the results")
    ap.add_argument("--seeks", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    ours_by_name: dict[str, dict] = {}
    if args.plan:
        for f in json.loads(args.plan.read_text())["files"]:
            ours_by_name[f["path"]] = f
    files = args.files or [Path(p) for p in ours_by_name]
    reports = []
    for path in files:
        print(f"reference: {path}", file=sys.stderr)
        ours = ours_by_name.get(str(path))
        plan = ours["plan"] if ours else None
        r = bench_file(path, plan, ours, args.seeks, args.seed)
        for c in r["frame_check_failures"]:
            print(f"reference: {path.name}: {c['who']} frame {c['index']} looks like {c['closest']}: {c['mad']}",
                  file=sys.stderr)
        reports.append(r)
    doc = {"tool": "bench/reference.py", "python": sys.version.split()[0], "files": reports}
    text = json.dumps(doc, indent=2)
    if args.json:
        args.json.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
