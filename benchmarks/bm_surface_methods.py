"""Surface methods `sdf` and `dvr` on the built-in scene without depth: quality and time.

For each method and each step count, fits on the built-in scene (40 views + 8 held out, 128 x
128, masks and RGB only: ``use_depth=False``), then prints one JSON line with chamfer_l1 and
F@1% (``evaluate_meshes``, 100k samples, tau 0.01), the held-out PSNR of ``render``, the genus
of the mesh (Euler characteristic, closed mesh), the fit's wall time and the process CPU time.

    python benchmarks/bm_surface_methods.py --device cuda --method sdf --steps 250 500 1000 1500
    OMP_NUM_THREADS=2 python benchmarks/bm_surface_methods.py --method sdf --steps 1500
    OMP_NUM_THREADS=1 python benchmarks/bm_surface_methods.py --method dvr --steps 300 \
        --image-size 64 --n-views 16 --n-test 4 --set '{"mesh_resolution": 64}'

`--image-size`, `--n-views` and `--n-test` shrink the scene for a CPU run (default: the
built-in 128 px, 40 + 8 views).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop, seed_everything
from inverse3d.eval.metrics import evaluate_meshes
from inverse3d.methods import dvr, sdf


def genus(mesh) -> float:
    """(2 - (V - E + F)) / 2 of a closed triangle mesh."""
    faces = mesh.faces_packed()
    edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).sort(1).values
    n_e = edges.unique(dim=0).shape[0]
    chi = mesh.verts_packed().shape[0] - n_e + faces.shape[0]
    return (2 - chi) / 2


def run(
    method: str,
    steps: int,
    device: str,
    overrides: dict,
    image_size: int = 128,
    n_views: int = 40,
    n_test: int = 8,
) -> dict:
    seed_everything(0)
    scene = make_synthetic_scene(
        n_views=n_views, n_test=n_test, image_size=image_size, device=device
    )
    mod = {"sdf": sdf, "dvr": dvr}[method]
    cfg_cls = mod.SdfConfig if method == "sdf" else mod.DvrConfig
    cfg = cfg_cls(steps=steps, use_depth=False, **overrides)
    if device == "cuda":
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    rec = mod.fit(cfg, scene, Loop(progress=False))
    if device == "cuda":
        torch.cuda.synchronize()
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    metrics = evaluate_meshes(rec.mesh, scene.gt_mesh, n_samples=100_000, tau=0.01)
    test = scene.test()
    with torch.no_grad():
        img = rec.render(test.cameras)
    mse = ((img[..., :3] - test.images) ** 2).mean(dim=(1, 2, 3))
    return {
        "method": method,
        "steps": steps,
        "device": device,
        "chamfer_l1": float(metrics["chamfer_l1"]),
        "f_score": float(metrics["f_score"]),
        "accuracy": float(metrics["accuracy"]),
        "completeness": float(metrics["completeness"]),
        "psnr": float((-10 * torch.log10(mse)).mean()),
        "genus": genus(rec.mesh),
        "fit_wall_s": round(fit_s, 1),
        "fit_cpu_s": round(fit_cpu, 1),
        "overrides": overrides,
        "scene": [image_size, n_views, n_test],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", choices=("sdf", "dvr"), default="sdf")
    ap.add_argument("--steps", type=int, nargs="+", default=[1500])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--set", default="{}", help="JSON dict of config overrides")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--n-views", type=int, default=40)
    ap.add_argument("--n-test", type=int, default=8)
    args = ap.parse_args()
    for steps in args.steps:
        res = run(
            args.method,
            steps,
            args.device,
            json.loads(args.set),
            args.image_size,
            args.n_views,
            args.n_test,
        )
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
