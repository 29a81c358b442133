"""Prints the held-out grid's scores (from `pigweight eval --through-index`, see grid.sh) as a
Markdown table: one row per cell, then the pens with pigs pooled, the empty pens and the test
patterns (the scenes with no pig in them: every frame's truth is 0).

    python3 grid_table.py GRID.json
"""

import json
import sys
from pathlib import Path


def row(name: str, s: dict) -> str:
    return (
        f"| {name} | {s['frames']} | {100 * s['exact']:.1f}% | {s['mae']:.3f} | {s['bias']:+.3f} "
        f"| {100 * s['band_coverage']:.1f}% | {s['band_width']:.3f} "
        f"| {s['model_runs_per_frame']:.3f} | {s['real_time_factor']:.1f}x |"
    )


def pooled(cells: list[dict]) -> dict:
    frames = sum(c["frames"] for c in cells)
    weighted = lambda key: sum(c[key] * c["frames"] for c in cells) / max(frames, 1)
    return {
        "frames": frames,
        "exact": weighted("exact"),
        "mae": weighted("mae"),
        "bias": weighted("bias"),
        "band_coverage": weighted("band_coverage"),
        "band_width": weighted("band_width"),
        "model_runs_per_frame": weighted("model_runs_per_frame"),
        "real_time_factor": sum(c["frames"] for c in cells)
        / max(sum(c["frames"] / c["real_time_factor"] for c in cells), 1e-9),
    }


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    print(f"model {report['model']['path']} ({report['model']['hash'][:8]}), interval {report['interval']} s")
    print()
    print("| cell | frames | exact | MAE | bias | band holds truth | band width | model runs/frame | speed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    pens, empty, patterns = [], [], []
    for video in report["videos"]:
        name = Path(video["video"]).stem
        group = patterns if name.startswith("pattern-") else empty if name.startswith("empty-") else pens
        group.append(video["summary"])
        print(row(name, video["summary"]))
    worst = min(pens, key=lambda s: s["exact"]) if pens else None
    print(row("**all pens with pigs**", pooled(pens)))
    if empty:
        print(row("**all empty pens**", pooled(empty)))
    if patterns:
        print(row("**all test patterns**", pooled(patterns)))
    if worst:
        print(f"\nlowest pen: {100 * worst['exact']:.1f}% exact")


if __name__ == "__main__":
    main()
