"""Carries an unfinished training run across machines that keep nothing of target/.

    python carry.py save RUNS_DIR NAME      # RUNS_DIR/NAME/weights/*.pt -> models/train/carry/NAME/
    python carry.py restore RUNS_DIR        # models/train/carry/*/ -> RUNS_DIR/*/, where missing

A session here lasts three hours and the next may start on a fresh machine, while a network
trained from its YAML on the CPU takes longer than that. `save` keeps the run's last finished
epoch (or the finished run) in models/train/carry/NAME/ (committed): Ultralytics' checkpoint as
it is (EMA weights in float16, the epoch, the learning-rate schedule's state, the run's
arguments and results) with the optimiser's moments in bfloat16 (float32's range, so no second
moment underflows; PyTorch casts them back to float32 on loading): about 15 MB instead of 25.
The best epoch's weights go beside it (5 MB, no optimiser) only where it is not the last.
`restore` (make_model.sh with RESUME=1) puts them back where `train.py --resume` looks, with
the run's results.csv, so the run goes on from the carried epoch as if it had not stopped.
"""

import argparse
import csv
import io
from pathlib import Path

import torch

CARRY = Path(__file__).resolve().parent / "carry"


def write(ckpt: dict, path: Path) -> None:
    # Through a buffer: torch.save names the archive's folder after the file it writes.
    ckpt["date"] = None
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    path.write_bytes(buffer.getvalue())


def weights_of(ckpt: dict) -> torch.nn.Module:
    # A run in progress keeps its weights as the EMA; a finished (stripped) run as the model.
    return ckpt["ema"] or ckpt["model"]


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def save(runs: Path, name: str) -> None:
    weights = runs / name / "weights"
    last = torch.load(weights / "last.pt", map_location="cpu", weights_only=False)
    best = torch.load(weights / "best.pt", map_location="cpu", weights_only=False)
    # A finished run's checkpoints are already stripped (epoch -1, no optimiser): carried as
    # they are, so that `train.py --resume` exports it again instead of training it anew.
    for state in (last["optimizer"] or {"state": {}})["state"].values():
        for key, value in state.items():
            if key != "step" and torch.is_tensor(value) and value.is_floating_point():
                state[key] = value.to(torch.bfloat16)
    out = CARRY / name
    out.mkdir(parents=True, exist_ok=True)
    write(last, out / "last.pt")
    (out / "best.pt").unlink(missing_ok=True)
    if not same_weights(weights_of(last), weights_of(best)):
        best["optimizer"] = None
        write(best, out / "best.pt")
    done = "finished" if last["epoch"] == -1 else f"epoch {last['epoch'] + 1}"
    print(f"{name}: carried ({done})")


def restore(runs: Path) -> None:
    for kept in sorted(p for p in CARRY.glob("*") if (p / "last.pt").exists()):
        run = runs / kept.name
        if (run / "weights" / "last.pt").exists():
            continue
        (run / "weights").mkdir(parents=True, exist_ok=True)
        last = (kept / "last.pt").read_bytes()
        best = kept / "best.pt"
        (run / "weights" / "last.pt").write_bytes(last)
        (run / "weights" / "best.pt").write_bytes(best.read_bytes() if best.exists() else last)
        results = torch.load(kept / "last.pt", map_location="cpu", weights_only=False)["train_results"]
        with open(run / "results.csv", "w", newline="") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(results)
            out.writerows(zip(*results.values()))
        print(f"{kept.name}: restored into {run}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save")
    s.add_argument("runs", type=Path)
    s.add_argument("name")
    r = sub.add_parser("restore")
    r.add_argument("runs", type=Path)
    args = ap.parse_args()
    if args.command == "save":
        save(args.runs, args.name)
    else:
        restore(args.runs)


if __name__ == "__main__":
    main()
