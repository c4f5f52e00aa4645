"""Mesh R-CNN mesh head on procedural shapes: held-out metrics after training, and time.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bm_mesh_head.py [--steps 300]
        [--n-train 96] [--n-test 24] [--image-size 64] [--grid 16] [--kinds box,cylinder,torus,mug]
        [--normal-weight 0.1] [--edge-weight 0.2] [--device cpu] [--seed 0]

Trains methods.mesh_head with the given settings (the rest at MeshHeadConfig's defaults) on
datasets.procedural_shapes (seed data_seed) and evaluates on held-out samples (seed
data_seed + 1): eval.mesh_rcnn_metrics (GT longest side 10; chamfer, normal consistency,
F1@0.1/0.3/0.5) of the untrained model, of the cubified voxels (stage 0) and of the refined
meshes (last stage), plus voxel IoU. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from inverse3d.datasets.procedural_shapes import make_shape_samples
from inverse3d.eval.mesh_rcnn_metrics import evaluate_mesh_head
from inverse3d.methods.mesh_head import MeshHeadConfig, build_model, train_mesh_head


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--n-train", type=int, default=96)
    ap.add_argument("--n-test", type=int, default=24)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--grid", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--kinds", default="box,cylinder,torus,mug")
    ap.add_argument("--normal-weight", type=float, default=0.1)
    ap.add_argument("--edge-weight", type=float, default=0.2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cfg = MeshHeadConfig(
        steps=a.steps, n_train=a.n_train, n_test=a.n_test, image_size=a.image_size,
        grid=a.grid, hidden=a.hidden, width=a.width, lr=a.lr, kinds=a.kinds,
        normal_weight=a.normal_weight, edge_weight=a.edge_weight,
    )  # fmt: skip
    dev = torch.device(a.device)
    t0 = time.perf_counter()
    make = lambda n, s: make_shape_samples(  # noqa: E731
        n, s, cfg.image_size, cfg.grid, n_points=cfg.n_points, kinds=cfg.kind_tuple()
    )
    train, test = make(cfg.n_train, cfg.data_seed), make(cfg.n_test, cfg.data_seed + 1)
    t_data = time.perf_counter() - t0
    torch.manual_seed(a.seed)
    untrained = evaluate_mesh_head(build_model(cfg).to(dev), test, cfg.eval_samples)
    t1 = time.perf_counter()
    model, hist = train_mesh_head(cfg, None, train, seed=a.seed, device=dev)
    t_train = time.perf_counter() - t1
    cubified = evaluate_mesh_head(model, test, cfg.eval_samples, stage=0)
    refined = evaluate_mesh_head(model, test, cfg.eval_samples)
    r = lambda d: {k: round(v, 4) for k, v in d.items()}  # noqa: E731
    print(json.dumps({
        "settings": vars(a), "untrained": r(untrained), "cubified": r(cubified),
        "refined": r(refined), "final_loss": r(hist[-1]), "data_s": round(t_data, 1),
        "train_s": round(t_train, 1), "s_per_step": round(t_train / cfg.steps, 3),
        "threads": torch.get_num_threads(),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
