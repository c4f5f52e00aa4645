"""Held-out PSNR of the object methods on the "mug in a room" capture (no masks), with and
without a background model (`background_model` data / environment / outer).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bm_background.py [--methods volume sdf dvr]
        [--steps N] [--size 32] [--with-masks]

Tiny CPU settings (12 training views of 32x32, 2 held out); prints one row per method and
background: held-out PSNR (dB), seconds, and the mesh's largest |coordinate| (the cube only).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop
from inverse3d.eval.metrics import psnr
from inverse3d.methods import get_method

TINY = {
    "volume": dict(
        steps=150, grid_sizes=(16, 32), stage_steps=(75,), rays_per_step=1024, pts_per_ray=32
    ),
    "sdf": dict(
        steps=60,
        rays_per_step=256,
        samples_per_ray=32,
        mesh_resolution=24,
        grid_resolution=16,
        render_chunk=1024,
    ),
    "dvr": dict(steps=300, width=64, n_blocks=2, rays_per_step=512, mesh_resolution=24),
    "mesh": dict(steps=20, image_size=32),  # no background model: refused without masks
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", nargs="+", default=["volume", "sdf", "dvr"])
    ap.add_argument("--backgrounds", nargs="+", default=["data", "environment", "outer"])
    ap.add_argument("--steps", type=int, default=0, help="0: the tiny settings' steps")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--with-masks", action="store_true", help="give the room scene the mug's masks (dvr)"
    )
    args = ap.parse_args()
    room = make_synthetic_scene(n_views=12, n_test=2, image_size=args.size, room=True)
    if args.with_masks:  # same cameras without the room: the mug's masks
        plain = make_synthetic_scene(n_views=12, n_test=2, image_size=args.size)
        room = replace(room, masks=plain.masks)
    test = room.test()
    white = float(psnr(torch.ones_like(test.images), test.images))
    print(f"white background: {white:.2f} dB")
    for name in args.methods:
        m = get_method(name)
        for bg in args.backgrounds if name != "mesh" else ["data"]:
            settings = dict(TINY[name])
            if name != "mesh":
                settings["background_model"] = bg
            if args.steps:
                settings["steps"] = args.steps
            torch.manual_seed(args.seed)
            t0 = time.perf_counter()
            try:
                rec = m.fit(m.config_cls(**settings), room, Loop(progress=False))
            except ValueError as e:
                print(f"{name:7s} {bg:12s} refused: {e}")
                continue
            with torch.no_grad():
                pred = rec.render(test.cameras)[..., :3].clamp(0, 1)
            got = float(psnr(pred, test.images))
            v = rec.mesh.verts_packed() if rec.mesh is not None else torch.zeros(0, 3)
            vmax = float(v.abs().max()) if v.numel() else float("nan")
            dt = time.perf_counter() - t0
            print(
                f"{name:7s} {bg:12s} {got:6.2f} dB  {dt:6.1f} s  mesh |v|max {vmax:.2f}"
                f"  verts {v.shape[0]}",
                flush=True,
            )


if __name__ == "__main__":
    main()
