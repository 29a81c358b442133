"""Makes a deeper network out of trained weights without changing what it computes: every
repeated block of the architecture (C3k2's inner blocks, C2PSA's attention blocks) gets DEPTH
times the repeats of the trained network's scale, the trained blocks keep their weights, and each
new block starts silent, so training goes on from the trained model's answers instead of from
random weights (a function-preserving expansion, as in Net2Net's "deeper" operator).

    python deepen.py TRAINED.pt OUT.pt [--depth 1.0]

- a new C3k2 inner block feeds only the block's output convolution (cv2), through input columns
  set to zero: its own weights are random and learn as soon as those columns move;
- a new C2PSA attention block is residual (x + attn(x), then + ffn(x)): the batch norms after its
  attention projection and its feed-forward output start at scale and shift zero, so it is the
  identity.

The new weights carry the architecture with its new scale ("scale" in the model's YAML: the old
letter with "d" and the depth, e.g. "n-d1.0"), so Ultralytics builds the deeper network when
training starts from OUT.pt (`train.py --start-from OUT.pt`). It checks itself: the deeper
network's raw output must equal the trained one's on random images, or it fails.
"""

import argparse
import copy
import os
from pathlib import Path


def with_depth(cfg: dict, depth: float) -> dict:
    """The architecture `cfg` (an Ultralytics model YAML, loaded) with its scale's depth multiple
    replaced by `depth`, under a scale named for it (the old letter, "d" and the depth: "n-d1.0")."""
    cfg = copy.deepcopy(cfg)
    scale = cfg.get("scale") or next(iter(cfg["scales"]))
    _, width, max_channels = cfg["scales"][scale]
    new_scale = f"{scale}-d{depth}"
    cfg["scales"] = {new_scale: [depth, width, max_channels]}
    cfg["scale"] = new_scale
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trained", type=Path, help="an Ultralytics checkpoint (a run's best.pt)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--depth", type=float, default=1.0, help="the new depth multiple (YOLO26n: 0.5)")
    args = ap.parse_args()

    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch
    from ultralytics.nn.modules.block import C2PSA, C3k2
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint

    old, ckpt = load_checkpoint(str(args.trained), device="cpu")
    old = old.float().eval()
    cfg = with_depth(old.yaml, args.depth)
    torch.manual_seed(0)
    new = DetectionModel(cfg, ch=3, nc=old.nc, verbose=False)

    trained = old.state_dict()
    state = new.state_dict()
    grown = 0
    for key, value in state.items():
        if key not in trained:
            continue  # a new block's own weights: random, silenced below
        if trained[key].shape == value.shape:
            value.copy_(trained[key])
        elif value.dim() == 4 and value.shape[0] == trained[key].shape[0]:
            # A C3k2 output convolution with more inputs: the trained columns, then zeros.
            value.zero_()
            value[:, : trained[key].shape[1]].copy_(trained[key])
            grown += 1
        else:
            raise SystemExit(f"{key}: {tuple(trained[key].shape)} -> {tuple(value.shape)} has no rule")
    new.load_state_dict(state)

    added = 0
    for old_module, new_module in zip(old.model, new.model):
        if isinstance(new_module, C3k2):
            added += len(new_module.m) - len(old_module.m)
        elif isinstance(new_module, C2PSA):
            for block in list(new_module.m)[len(old_module.m) :]:
                for bn in (block.attn.proj.bn, block.ffn[-1].bn):
                    torch.nn.init.zeros_(bn.weight)
                    torch.nn.init.zeros_(bn.bias)
                added += 1

    new.names, new.args, new.stride = old.names, old.args, old.stride
    new.eval()
    with torch.no_grad():
        for size in ((256, 416), (320, 576)):
            x = torch.rand(2, 3, *size)
            want, got = old(x)[0], new(x)[0]
            if isinstance(want, dict):
                want, got = want["one2many"], got["one2many"]
            difference = (want - got).abs().max().item()
            if difference > 1e-3:
                raise SystemExit(f"the deeper network computes something else: {difference}")
    print(
        f"{old.yaml.get('yaml_file', 'model')} -> scale {cfg['scale']}: {added} new blocks, {grown} "
        f"output convolutions widened, {sum(p.numel() for p in old.parameters()):,} -> "
        f"{sum(p.numel() for p in new.parameters()):,} parameters; largest output difference {difference:.1e}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"model": new, "train_args": ckpt.get("train_args", {}), "date": ckpt.get("date"), "version": ckpt.get("version")},
        args.out,
    )


if __name__ == "__main__":
    main()
