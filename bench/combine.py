#!/usr/bin/env python3
"""Combines the decode benchmark's runs into one markdown report, with ratios and goals.

Usage: combine.py RUN_DIR... (each holding ours.json and reference.json from one run)

Every ratio is taken within one run (ours and the reference timed back to back on the same
files), then the median over runs is reported; so are the absolute figures.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=1):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    return f"{x:.{digits}f}"


def load(run_dir: Path):
    ours = {f["file"]: f for f in json.loads((run_dir / "ours.json").read_text())["files"]}
    ref = {f["file"]: f for f in json.loads((run_dir / "reference.json").read_text())["files"]}
    return ours, ref


def figures(o: dict, r: dict) -> dict:
    """The figures of one file in one run: name -> value."""
    f = {
        "exact_med": o["random_exact_ms"]["median"],
        "exact_p95": o["random_exact_ms"]["p95"],
        "cv_exact_med": r["opencv_random_exact_ms"]["median"],
        "cv_exact_p95": r["opencv_random_exact_ms"]["p95"],
        "av_exact_med": r["pyav_random_exact_ms"]["median"],
        "av_exact_p95": r["pyav_random_exact_ms"]["p95"],
        "scrub_med": o["scrub_step_ms"]["median"],
        "scrub_p95": o["scrub_step_ms"]["p95"],
        "scrub_advance": o["scrub_median_advance"],
        "scrub_seq_equiv": o["scrub_sequential_equivalent_ms"],
        "scrub_vs_seq": o["scrub_vs_sequential"],
        "av_scrub_med": r["pyav_scrub_step_ms"]["median"],
        "cv_scrub_med": r["opencv_scrub_step_ms"]["median"],
        "key_med": o["keyframe_seek_ms"]["median"],
        "key_p95": o["keyframe_seek_ms"]["p95"],
        "av_key_med": r["pyav_keyframe_seek_ms"]["median"],
        "av_key_p95": r["pyav_keyframe_seek_ms"]["p95"],
        "seq_fps": o["sequential_fps"],
        "seq_ms": o["sequential_ms_per_frame"],
        "cv_seq_fps": r["opencv_sequential"]["fps"],
        "av_seq_fps": r["pyav_sequential"]["fps"],
        "av_seq_rgb_fps": r["pyav_sequential_rgb"]["fps"],
        "kf_per_s": o["keyframes_per_s"],
        "kf_video_s": o["keyframes_video_s_per_s"],
        "av_kf_per_s": r["pyav_keyframes_read"]["fps"],
        "av_kf_video_s": r["pyav_keyframes_read"]["video_s_per_s"],
        "hit_med": o["cache_hit_us"]["median"],
        "hit_p95": o["cache_hit_us"]["p95"],
        "miss_ms": o["cache_miss_ms"],
        "open_ms": o["open_ms"],
        "mismatches": o["mismatches"],
        "check_failures": len(r["frame_check_failures"]) + r.get("pyav_seek_mismatches", 0),
        "open_failures": len(o.get("open_failures", [])),
        "count_mismatch": 1 if "frame_count_mismatch" in r or r["opencv_frame_count"] != o["frames"] else 0,
    }
    # Ratios within this run.
    f["exact_vs_cv"] = f["exact_med"] / f["cv_exact_med"]
    f["exact_vs_av"] = f["exact_med"] / f["av_exact_med"]
    f["exact_p95_vs_cv"] = f["exact_p95"] / f["cv_exact_p95"]
    f["exact_p95_vs_av"] = f["exact_p95"] / f["av_exact_p95"]
    f["scrub_vs_av"] = f["scrub_med"] / f["av_scrub_med"]
    f["scrub_vs_cv"] = f["scrub_med"] / f["cv_scrub_med"]
    f["key_vs_av"] = f["key_med"] / f["av_key_med"]
    f["seq_vs_cv"] = f["seq_fps"] / f["cv_seq_fps"]
    f["seq_vs_av_rgb"] = f["seq_fps"] / f["av_seq_rgb_fps"]
    f["kf_vs_av"] = f["kf_per_s"] / f["av_kf_per_s"]
    return f


def main() -> int:
    runs = [Path(p) for p in sys.argv[1:]]
    if not runs:
        print(__doc__, file=sys.stderr)
        return 2
    per_file: dict[str, list[dict]] = {}
    info: dict[str, dict] = {}
    for run in runs:
        ours, ref = load(run)
        for name, o in ours.items():
            per_file.setdefault(name, []).append(figures(o, ref[name]))
            info[name] = o
    files = sorted(per_file, key=lambda n: (info[n]["height"], info[n]["max_gop"]))
    m = {n: {k: med([f[k] for f in per_file[n]]) for k in per_file[n][0]} for n in files}

    out = []
    p = out.append
    p(f"Medians of {len(runs)} run(s); each ratio is taken within one run, then the median over runs.")
    p("Ratios are ours / theirs: below 1 means we are faster for times (ms), slower for rates (fps).")
    p("")

    def label(n):
        i = info[n]
        return f"{i['height']}p GOP {i['max_gop']}"

    def table(title, note, columns):
        """One markdown table: a row per file; `columns` pairs a header with a cell function."""
        p(f"### {title}")
        p("")
        if note:
            p(note)
            p("")
        p("| file | " + " | ".join(h for h, _ in columns) + " |")
        p("|---|" + "---:|" * len(columns))
        for n in files:
            p(f"| {label(n)} | " + " | ".join(cell(n) for _, cell in columns) + " |")
        p("")

    def col(key, digits=1):
        return lambda n: fmt(m[n][key], digits)

    def both(ratio, ratio_p95):
        return lambda n: f"{fmt(m[n][ratio], 2)} ({fmt(m[n][ratio_p95], 2)})"

    def total(key):
        return lambda n: str(sum(f[key] for f in per_file[n]))

    table("Random exact seek by index (ms)", None, [
        ("ours median", col("exact_med")), ("ours p95", col("exact_p95")),
        ("OpenCV median", col("cv_exact_med")), ("OpenCV p95", col("cv_exact_p95")),
        ("PyAV median", col("av_exact_med")), ("PyAV p95", col("av_exact_p95")),
        ("ours/OpenCV median (p95)", both("exact_vs_cv", "exact_p95_vs_cv")),
        ("ours/PyAV median (p95)", both("exact_vs_av", "exact_p95_vs_av")),
    ])
    table("Scrub: 0.2 s forward steps (ms per step)",
          "OpenCV: the prototype's way, a seek per step. PyAV: decoding forward from the previous step. "
          "'Sequential cost' is our median sequential per-frame cost times the frames a step advances.", [
        ("ours median", col("scrub_med")), ("ours p95", col("scrub_p95")),
        ("frames/step", col("scrub_advance", 0)), ("sequential cost", col("scrub_seq_equiv")),
        ("ours/sequential", col("scrub_vs_seq", 2)), ("PyAV median", col("av_scrub_med")),
        ("OpenCV median", col("cv_scrub_med")), ("ours/PyAV", col("scrub_vs_av", 2)),
        ("ours/OpenCV", col("scrub_vs_cv", 2)),
    ])
    table("Keyframe seek (Mode::Fast at random times; PyAV: seek to the keyframe, first frame) (ms)", None, [
        ("ours median", col("key_med")), ("ours p95", col("key_p95")),
        ("PyAV median", col("av_key_med")), ("PyAV p95", col("av_key_p95")),
        ("ours/PyAV", col("key_vs_av", 2)),
    ])
    table("Sequential decode, every frame (frames/s; higher is better)",
          "Ours and PyAV-rgb24 deliver RGB arrays, OpenCV BGR arrays; 'PyAV yuv' decodes without any "
          "colour conversion.", [
        ("ours", col("seq_fps", 0)), ("ours ms/frame", col("seq_ms", 2)),
        ("OpenCV", col("cv_seq_fps", 0)), ("PyAV rgb24", col("av_seq_rgb_fps", 0)),
        ("PyAV yuv", col("av_seq_fps", 0)), ("ours/OpenCV", col("seq_vs_cv", 2)),
        ("ours/PyAV rgb24", col("seq_vs_av_rgb", 2)),
    ])
    table("Keyframes-only read (higher is better; PyAV: `skip_frame = NONKEY`, no RGB conversion)", None, [
        ("ours keyframes/s", col("kf_per_s")), ("ours video s/s", col("kf_video_s", 0)),
        ("PyAV keyframes/s", col("av_kf_per_s")), ("PyAV video s/s", col("av_kf_video_s", 0)),
        ("ours/PyAV", col("kf_vs_av", 2)),
    ])
    table("Frame cache (`Decoder::frame` on a cached frame) and opening", None, [
        ("hit median (µs)", col("hit_med", 2)), ("hit p95 (µs)", col("hit_p95", 2)),
        ("first call, cold: probe + open + decode (ms)", col("miss_ms")),
        ("`VideoFile::open` (ms)", col("open_ms")),
    ])
    table("Correctness (summed over runs)", None, [
        ("our frames differing from our own sequential decode", total("mismatches")),
        ("frame checks failed (OpenCV, ours vs PyAV sequential; PyAV seek landing)", total("check_failures")),
        ("frame count differs", total("count_mismatch")),
        ("spurious open failures (retried)", total("open_failures")),
    ])

    goal = [n for n in files if info[n]["height"] == 1080 and info[n]["max_gop"] == 50]
    if goal:
        x = m[goal[0]]
        yes = lambda ok: "**holds**" if ok else "**does not hold**"  # noqa: E731
        p("### Goals (1080p, GOP 50)")
        p("")
        p(f"- Random exact seek at most half of OpenCV's and below PyAV's: ours {fmt(x['exact_med'])} ms, "
          f"OpenCV {fmt(x['cv_exact_med'])} ms (ratio {fmt(x['exact_vs_cv'], 2)}, goal ≤ 0.5), PyAV "
          f"{fmt(x['av_exact_med'])} ms (ratio {fmt(x['exact_vs_av'], 2)}, goal < 1): "
          f"{yes(x['exact_vs_cv'] <= 0.5 and x['exact_vs_av'] < 1)}.")
        p(f"- 0.2 s scrub step within 1.2× sequentially decoding the frames it skips: "
          f"{fmt(x['scrub_med'])} ms vs {fmt(x['scrub_seq_equiv'])} ms (ratio {fmt(x['scrub_vs_seq'], 2)}): "
          f"{yes(x['scrub_vs_seq'] <= 1.2)}.")
        p(f"- Keyframe seek under 15 ms: {fmt(x['key_med'])} ms median: {yes(x['key_med'] < 15)}.")
        p(f"- Cache hit under 0.1 ms: {fmt(x['hit_med'], 2)} µs median, {fmt(x['hit_p95'], 2)} µs p95: "
          f"{yes(x['hit_p95'] < 100)}.")
        p("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
