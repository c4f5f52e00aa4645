"""`inverse3d train-synsin`: train a SynSin novel view synthesis model on procedural rooms.

Writes a run folder: model.pt (a plain dict {"format", "config", "state_dict"}, read back with
`torch.load(weights_only=True)`), report.json (held-out PSNR / SSIM of the model, the input
copy and forward warping without refinement), history.json, loss.png and examples.png
(rows: source, target, forward warp, SynSin). See docs/view_synthesis.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from inverse3d.cli._common import (
    add_device_flag,
    add_run_folder_flags,
    verb_device,
    verb_run_folder,
)
from inverse3d.cli._flags import add_dataclass_flags, config_from_flags
from inverse3d.methods.synsin import SynSinConfig

__all__ = ["HELP", "EXAMPLES", "MODEL_FORMAT", "add_arguments", "load_model", "run", "save_model"]

SUMMARY = "Train SynSin (single-image novel view synthesis) on procedural rooms."
HELP = (
    "Train SynSin (single-image novel view synthesis: features and depth lifted to a point "
    "cloud, moved by the relative camera, splatted by the point renderer, refined) on pairs of "
    "views of procedural rooms; writes model.pt and report.json (held-out PSNR / SSIM against "
    "the input copy and forward warping)."
)
EXAMPLES = (
    "inverse3d train-synsin --steps 400 --name synsin",
    "inverse3d train-synsin --steps 400 --gan-weight 0.05 --name synsin-gan",
    "inverse3d synthesize room.png --angle 10 --checkpoint runs/synsin/model.pt",
)
MODEL_FORMAT = "inverse3d-synsin-1"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_device_flag(p)
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--examples", type=int, default=6, help="held-out pairs in examples.png")
    add_run_folder_flags(p, "synsin")
    add_dataclass_flags(p.add_argument_group("model and training settings"), SynSinConfig)


def save_model(path: Path, model, config: SynSinConfig) -> None:
    """Write model.pt (pipeline.model_files: format, config, state_dict)."""
    from inverse3d.pipeline.model_files import save_model_file

    save_model_file(path, MODEL_FORMAT, config, {"state_dict": model})


def load_model(path: str | Path, device: str = "cpu"):
    """(model in eval mode, SynSinConfig) from a model.pt; InputError naming the file."""
    from inverse3d.methods.synsin import build_model
    from inverse3d.pipeline.model_files import load_model_file

    model, cfg = load_model_file(path, MODEL_FORMAT, SynSinConfig, build_model, device=device)
    return model, cfg


def run(args: argparse.Namespace) -> int:
    args.device = verb_device(args)
    import torch
    from PIL import Image

    from inverse3d.common.errors import InputError
    from inverse3d.datasets.view_pairs import make_view_pairs
    from inverse3d.engine import Loop
    from inverse3d.eval.view_synthesis import METRIC_DEFINITIONS, evaluate_view_synthesis
    from inverse3d.methods.synsin import build_model, train_synsin
    from inverse3d.pipeline.outputs import versions, write_report_json
    from inverse3d.viz.plots import plot_loss, to_uint8

    cfg = config_from_flags(args, SynSinConfig)
    if cfg.image_size % 4:
        raise InputError(f"--image-size must be a multiple of 4; got {cfg.image_size}")
    if not cfg.depth_min < cfg.depth_max:
        raise InputError(f"--depth-min must be < --depth-max; got {cfg.depth_min}, {cfg.depth_max}")
    if cfg.gan_weight > 0 and cfg.image_size % 2**cfg.d_layers:
        raise InputError(f"--image-size must be divisible by 2**--d-layers = {2**cfg.d_layers} "
                         f"with the GAN on; got {cfg.image_size}")  # fmt: skip
    if cfg.vgg_weights and not Path(cfg.vgg_weights).is_file():
        raise FileNotFoundError(f"{cfg.vgg_weights}: no such VGG weights file")
    t0 = time.perf_counter()
    out = verb_run_folder(args, "synsin")
    dev = torch.device(args.device)

    def make(n: int, seed: int):
        return make_view_pairs(n, seed, cfg.image_size, cfg.max_angle, cfg.max_shift, cfg.focal)

    train_data, test_data = make(cfg.n_train, cfg.data_seed), make(cfg.n_test, cfg.data_seed + 1)
    t_data = time.perf_counter() - t0
    torch.manual_seed(args.seed)
    initial = evaluate_view_synthesis(build_model(cfg).to(dev), test_data)
    loop = Loop(out_dir=out, progress=True, divergence_window=None)
    model, history = train_synsin(cfg, loop, train_data, seed=args.seed, device=dev)
    t_train = time.perf_counter() - t0 - t_data
    metrics = evaluate_view_synthesis(model, test_data)
    save_model(out / "model.pt", model, cfg)
    plot_loss(history, out / "loss.png")
    k = min(max(args.examples, 0), len(test_data))
    if k:
        with torch.no_grad():
            part = test_data.subset(list(range(k)))
            res = model(part.source.to(dev), part.R.to(dev), part.T.to(dev))
        rows = [part.source, part.target, res.warped.clamp(0, 1).cpu(), res.image.cpu()]
        grid = torch.cat([torch.cat(list(r), 2) for r in rows], 1)  # (3, 4 S, k S)
        Image.fromarray(to_uint8(grid.permute(1, 2, 0))).save(out / "examples.png")
    write_report_json(
        out,
        {
            "command": "train-synsin",
            "metrics": metrics,
            "metrics_untrained": initial,
            "metric_definitions": METRIC_DEFINITIONS,
            "held_out": {"n": len(test_data), "seed": cfg.data_seed + 1},
            "settings": dataclasses.asdict(cfg),
            "seed": args.seed,
            "device": str(dev),
            "final_loss": history[-1] if history else None,
            "time_s": {"data": t_data, "train": t_train, "total": time.perf_counter() - t0},
            "versions": versions(),
        },
    )
    (out / "history.json").write_text(json.dumps(history) + "\n")
    m, c, w = metrics["synsin"], metrics["input_copy"], metrics["warp_predicted_depth"]
    print(
        f"held-out PSNR {m['psnr']:.2f} dB / SSIM {m['ssim']:.3f} (input copy {c['psnr']:.2f} / "
        f"{c['ssim']:.3f}, forward warp {w['psnr']:.2f} / {w['ssim']:.3f}); "
        f"saved {out}/model.pt, report.json"
    )
    return 0
