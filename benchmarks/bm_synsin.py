"""SynSin on procedural room view pairs: held-out PSNR / SSIM against the baselines, and time.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bm_synsin.py [--steps 300]
        [--n-train 128] [--n-test 32] [--image-size 32] [--channels 16] [--blocks 2]
        [--depth-width 8] [--batch-size 8] [--lr 2e-3] [--feature-weight 1.0]
        [--depth-weight 0.0] [--gan-weight 0.0] [--gan-loss hinge] [--device cpu] [--seed 0]

Trains methods.synsin with the given settings (the rest at SynSinConfig's defaults) on
datasets.view_pairs (seed data_seed) and evaluates on held-out pairs (seed data_seed + 1) with
eval.view_synthesis: the model, the input copy, forward warping with the predicted depth (no
refinement) and with the true depth, for the untrained and the trained model; plus the mean
absolute depth error. With --gan-weight > 0 the patch-GAN is on (its final losses are printed
too). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from inverse3d.datasets.view_pairs import make_view_pairs
from inverse3d.eval.view_synthesis import evaluate_view_synthesis
from inverse3d.methods.synsin import SynSinConfig, build_model, train_synsin


def depth_error(model, pairs, device) -> float:
    with torch.no_grad():
        out = model(pairs.source.to(device), pairs.R.to(device), pairs.T.to(device))
    return float((out.depth.cpu() - pairs.depth).abs().mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--n-train", type=int, default=128)
    ap.add_argument("--n-test", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--depth-width", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--feature-weight", type=float, default=1.0)
    ap.add_argument("--depth-weight", type=float, default=0.0)
    ap.add_argument("--gan-weight", type=float, default=0.0)
    ap.add_argument("--gan-loss", default="hinge", choices=("hinge", "nonsaturating"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cfg = SynSinConfig(
        steps=a.steps, n_train=a.n_train, n_test=a.n_test, image_size=a.image_size,
        channels=a.channels, blocks=a.blocks, depth_width=a.depth_width,
        batch_size=a.batch_size, lr=a.lr, feature_weight=a.feature_weight,
        depth_weight=a.depth_weight, gan_weight=a.gan_weight, gan_loss=a.gan_loss,
    )  # fmt: skip
    dev = torch.device(a.device)
    t0 = time.perf_counter()
    make = lambda n, s: make_view_pairs(  # noqa: E731
        n, s, cfg.image_size, cfg.max_angle, cfg.max_shift, cfg.focal
    )
    train, test = make(cfg.n_train, cfg.data_seed), make(cfg.n_test, cfg.data_seed + 1)
    t_data = time.perf_counter() - t0
    torch.manual_seed(a.seed)
    m0 = build_model(cfg).to(dev)
    untrained = evaluate_view_synthesis(m0, test)
    d0 = depth_error(m0, test, dev)
    t1 = time.perf_counter()
    model, hist = train_synsin(cfg, None, train, seed=a.seed, device=dev)
    t_train = time.perf_counter() - t1
    trained = evaluate_view_synthesis(model, test)
    result = {
        "settings": vars(a),
        "untrained": untrained,
        "trained": trained,
        "depth_l1": {"untrained": d0, "trained": depth_error(model, test, dev)},
        "final_loss": hist[-1]["loss"],
        "final_gan": {k: hist[-1][k] for k in ("gan", "d_real", "d_fake") if k in hist[-1]},
        "time_s": {"data": t_data, "train": t_train, "per_step": t_train / cfg.steps},
        "device": str(dev),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
