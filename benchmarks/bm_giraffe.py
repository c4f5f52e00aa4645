"""GIRAFFE training speed and controllability after training.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bm_giraffe.py [--steps 300]
        [--n-train 256] [--batch-size 16] [--image-size 32] [--feature-size 16] [--hidden 32]
        [--n-samples 12] [--lr-g 2e-3] [--lr-d 1e-3] [--n-objects 1] [--device cpu] [--seed 0]

Trains methods.giraffe with these settings (the rest at GiraffeConfig's defaults) on
datasets.giraffe_scenes images and prints one JSON object: data and training time, steps per
second, final losses, and eval.giraffe_metrics.controllability (100 scenes) of the untrained
and of the trained generator (translation per object, appearance, rotation).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from inverse3d.datasets.giraffe_scenes import make_giraffe_images
from inverse3d.eval.giraffe_metrics import controllability
from inverse3d.methods.giraffe import GiraffeConfig, build_models, pose_ranges, train_giraffe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--n-train", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--feature-size", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--n-samples", type=int, default=12)
    ap.add_argument("--lr-g", type=float, default=2e-3)
    ap.add_argument("--lr-d", type=float, default=1e-3)
    ap.add_argument("--n-objects", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cfg = GiraffeConfig(
        image_size=a.image_size, feature_size=a.feature_size, hidden=a.hidden,
        n_samples=a.n_samples, steps=a.steps, batch_size=a.batch_size, n_train=a.n_train,
        lr_g=a.lr_g, lr_d=a.lr_d, n_objects=a.n_objects,
    )  # fmt: skip
    t0 = time.perf_counter()
    data = make_giraffe_images(
        a.n_train, 0, a.image_size, pose_ranges=pose_ranges(cfg), n_objects=a.n_objects
    )
    t_data = time.perf_counter() - t0
    torch.manual_seed(a.seed)
    untrained = controllability(build_models(cfg)[0].to(a.device), 100, seed=1)
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()
    t1 = time.perf_counter()
    gen, _, hist = train_giraffe(cfg, data.images, seed=a.seed, device=a.device)
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()
    t_train = time.perf_counter() - t1
    out = {
        "settings": vars(a),
        "device": torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu",
        "time_s": {"data": t_data, "train": t_train},
        "steps_per_s": a.steps / t_train,
        "final": {k: v for k, v in hist[-1].items() if k != "train_time_s"},
        "controllability_untrained": untrained,
        "controllability_trained": controllability(gen, 100, seed=1),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
