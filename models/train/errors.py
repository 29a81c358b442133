"""Sorts the counting errors of a `pigweight eval` run into kinds, per video, from the boxes it
counted on each wrongly counted frame and the ground truth beside each video:

- over, partly visible: a counted box on an animal under the counting threshold (less than half
  of it visible), at the frame's edge or hidden by others;
- over, duplicate: a second box on an animal already matched;
- over, background: a box on no animal;
- missed: an animal that counts but no counted box is on it, at the edge or not, and with its
  visible fraction.

Then the exact-count rate with the counting rule's boundary blurred: a frame also counts as right
when its count lies between the animals clearly over the threshold and those not clearly under
it (within 0.05, then 0.1), which tells how much of what is wrong is the boundary itself.

Wrong frames come in runs (a pig lying at the boundary stays there a while), so each video's line
also says how many runs of consecutive scored frames its wrong frames make: about how many
independent events a difference between two models rests on.

    models/train/evaluate.sh > eval.json && python3 models/train/errors.py eval.json

Last, the rule's own limit: the exact-count rate of a detector that finds every animal and
misjudges only its visible fraction, by Gaussian noise of a few hundredths (how well the part of
a pig in view tells how much of it is out of view). A pig of a pen varies ±10% in length around
the pen's typical one, so a pig half in view is about 0.5 ± 0.03 visible as far as its visible
part can tell.

Standard library only. Matching is greedy by score at IoU 0.3 (looser than AP50's 0.5: the
question here is which animal a box is on, not how well it fits).
"""

import argparse
import collections
import json
import random
from pathlib import Path

MATCH_IOU = 0.3


def iou(a: list[float], b: list[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def at_edge(animal: dict, width: int, height: int) -> bool:
    x1, y1, x2, y2 = animal["full_box"]
    return x1 < 0 or y1 < 0 or x2 > width or y2 > height


def classify(wrong: dict, animals: list[dict], threshold: float, size: tuple[int, int]) -> list[str]:
    """The kinds of error on one wrongly counted frame, one entry per box or animal."""
    kinds = []
    taken: set[int] = set()
    for det in sorted(wrong["detections"], key=lambda d: -d["score"]):
        free = [(iou(det["box"], a["box"]), i) for i, a in enumerate(animals) if i not in taken]
        overlap, best = max(free, default=(0.0, -1))
        if overlap < MATCH_IOU:
            on_taken = any(iou(det["box"], animals[i]["box"]) >= MATCH_IOU for i in taken)
            kinds.append("over, duplicate" if on_taken else "over, background")
            continue
        taken.add(best)
        animal = animals[best]
        if animal["visible_fraction"] < threshold:
            where = "edge" if at_edge(animal, *size) else "hidden by others"
            kinds.append(f"over, partly visible ({where}), visible {bucket(animal)}")
    for i, animal in enumerate(animals):
        if animal["visible_fraction"] >= threshold and i not in taken:
            where = "edge" if at_edge(animal, *size) else "inside"
            kinds.append(f"missed ({where}), visible {bucket(animal)}")
    return kinds


def runs(indices: list[int], every: int) -> int:
    """How many runs of consecutive scored frames (`every` apart) the frame indices make."""
    ordered = sorted(indices)
    return sum(1 for i, index in enumerate(ordered) if i == 0 or index - ordered[i - 1] != every)


def bucket(animal: dict) -> str:
    """The visible fraction to a tenth, as a range: '0.4-0.5'."""
    low = min(int(animal["visible_fraction"] * 10), 9) / 10
    return f"{low:.1f}-{low + 0.1:.1f}"


def within(wrong: dict, animals: list[dict], threshold: float, band: float) -> bool:
    """Whether a wrong count is right with the rule's boundary blurred by `band`: at least the
    animals visible `threshold + band` or more, at most those visible `threshold - band` or more."""
    low = sum(a["visible_fraction"] >= threshold + band for a in animals)
    high = sum(a["visible_fraction"] >= threshold - band for a in animals)
    return low <= wrong["counted"] <= high


def judged_exactly(frames: list[dict], threshold: float, sigma: float, repeats: int = 20) -> float:
    """The share of `frames` a detector counts exactly that finds every animal in view and judges
    each one's visible fraction with Gaussian error `sigma` (averaged over `repeats` draws)."""
    rng = random.Random(0)
    right = 0
    for _ in range(repeats):
        for frame in frames:
            judged = sum(
                a["visible_fraction"] + rng.gauss(0.0, sigma) >= threshold
                for a in frame["animals"]
                if a["visible_fraction"] > 0
            )
            right += judged == frame["count"]
    return right / (repeats * len(frames))


# Errors in judging visible fractions, for the rule's own limit.
SIGMAS = (0.01, 0.02, 0.03, 0.05)

# How far from the counting threshold a pig's visible fraction is taken as ambiguous, for the
# blurred exact-count rates (a diagnostic: the goal and `pigweight eval` use the sharp rule).
BANDS = (0.05, 0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("eval", type=Path, help="the JSON `pigweight eval` printed")
    args = ap.parse_args()
    report = json.loads(args.eval.read_text())
    pooled: collections.Counter[str] = collections.Counter()
    blurred = {band: 0 for band in BANDS}
    total_runs = 0
    scored: dict[str, tuple[list[dict], float]] = {}
    for video in report["videos"]:
        path = Path(video["video"])
        truth = json.loads(path.with_suffix(".truth.json").read_text())
        scored[path.stem] = (truth["frames"][:: report["every"]], truth["count_threshold"])
        kinds: collections.Counter[str] = collections.Counter()
        for wrong in video["wrong_counts"]:
            animals = truth["frames"][wrong["index"]]["animals"]
            kinds.update(classify(wrong, animals, truth["count_threshold"], (truth["width"], truth["height"])))
            for band in BANDS:
                blurred[band] += within(wrong, animals, truth["count_threshold"], band)
        pooled.update(kinds)
        events = runs([wrong["index"] for wrong in video["wrong_counts"]], report["every"])
        total_runs += events
        print(
            f"{path.stem}: {len(video['wrong_counts'])} of {video['summary']['frames']} frames wrong, "
            f"in {events} runs"
        )
        for kind, n in sorted(kinds.items()):
            print(f"  {n:5}  {kind}")
    print(f"all videos ({total_runs} runs):")
    for kind, n in sorted(pooled.items()):
        print(f"  {n:5}  {kind}")
    frames = report["summary"]["frames"]
    wrong = sum(len(video["wrong_counts"]) for video in report["videos"])
    for band, n in blurred.items():
        print(
            f"exact with pigs within {band} of the counting threshold counting either way: "
            f"{(frames - wrong + n) / frames:.1%} ({n} of the {wrong} wrong frames)"
        )
    for sigma in SIGMAS:
        rates = {name: judged_exactly(f, threshold, sigma) for name, (f, threshold) in scored.items()}
        pooled_rate = sum(rates[name] * len(f) for name, (f, _) in scored.items()) / sum(
            len(f) for f, _ in scored.values()
        )
        each = ", ".join(f"{name} {rate:.1%}" for name, rate in rates.items())
        print(f"every pig found, visible fractions judged within ±{sigma} (1 sd): {pooled_rate:.1%} exact ({each})")


if __name__ == "__main__":
    main()
