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
built-in 128 px, 40 + 8 views); `--inside textured` renders the diagnostic variant of the scene
whose inside carries a checker (`make_synthetic_scene(inside="textured")`).

Besides the two directions of the chamfer (accuracy: prediction -> truth; completeness: truth
-> prediction) the JSON line splits them by region (`regions`), which tells a lid over the
opening from a blob under the base:

* `inside_completeness`: completeness over the truth's inner wall and floor only (with a lid
  the inner wall's nearest prediction is the outer wall, a wall's thickness away, and the
  floor's is the base or the blob below it; a carved mug brings it near the other samples');
* `lid_share`: share of the predicted surface inside the opening's cylinder and above the
  inner floor (up to 0.05 above the rim) but more than 0.01 from the truth (a lid, or a floor
  not carved deep enough);
* `below_share`, `below_accuracy`: share of the predicted surface more than 0.01 below the base
  plane (no camera sees it) and its mean distance to the truth; `below_share *
  below_accuracy` is what the blob adds to the accuracy.
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


def _nearest_dist(query: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(P,) distance of each query point (P, 3) to its nearest reference point (Q, 3)."""
    from inverse3d.ops.knn import knn_points

    d2 = knn_points(query[None].float(), ref[None].float(), K=1).dists[0, :, 0]
    return d2.clamp(min=0).sqrt()


def region_metrics(pred, gt, n_samples: int = 100_000) -> dict:
    """Accuracy / completeness split by region of the mug (see the module docstring), in the
    units of `evaluate_meshes` (the truth's longest bounding-box side is 1)."""
    from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes

    torch.manual_seed(0)
    v = gt.verts_packed()
    unit = 1.0 / float((v.max(0).values - v.min(0).values).max())  # evaluate_meshes' scale
    v = v * unit
    p = sample_points_from_meshes(pred, n_samples)[0] * unit
    g = sample_points_from_meshes(gt, n_samples)[0] * unit
    y0, y1 = float(v[:, 1].min()), float(v[:, 1].max())
    base = v[v[:, 1] < y0 + 1e-5]
    axis = base.mean(0)  # centre of the base disc: the body's axis (x, z)
    scale = (y1 - y0) / 2.05  # the body is 2.05 high (rim included), radius 1, before scaling
    r_in, floor = 0.9 * scale, y0 + 0.15 * scale

    def radial(x):
        return (x[:, [0, 2]] - axis[[0, 2]]).norm(dim=1)

    inside_gt = (radial(g) < r_in + 0.005) & (g[:, 1] > floor - 0.005)
    d_gp = _nearest_dist(g, p)
    d_pg = _nearest_dist(p, g)
    in_cyl = (radial(p) < r_in - 0.01) & (p[:, 1] > floor + 0.01) & (p[:, 1] < y1 + 0.05)
    below = p[:, 1] < y0 - 0.01
    return {
        "inside_completeness": float(d_gp[inside_gt].mean()),
        "outside_completeness": float(d_gp[~inside_gt].mean()),
        "lid_share": float((in_cyl & (d_pg > 0.01)).float().mean()),
        "below_share": float(below.float().mean()),
        "below_accuracy": float(d_pg[below].mean()) if bool(below.any()) else 0.0,
        "accuracy_rest": float(d_pg[~below].mean()),
    }


def run(
    method: str,
    steps: int,
    device: str,
    overrides: dict,
    image_size: int = 128,
    n_views: int = 40,
    n_test: int = 8,
    inside: str = "plain",
    eval_samples: int = 100_000,
    save: str | None = None,
) -> dict:
    seed_everything(0)
    scene = make_synthetic_scene(
        n_views=n_views, n_test=n_test, image_size=image_size, device=device, inside=inside
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
    if save:  # the mesh, for a later look (torch.load(..., weights_only=True))
        verts, faces = rec.mesh.verts_packed(), rec.mesh.faces_packed()
        torch.save({"verts": verts.cpu(), "faces": faces.cpu()}, save)
    metrics = evaluate_meshes(rec.mesh, scene.gt_mesh, n_samples=eval_samples, tau=0.01)
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
        "regions": region_metrics(rec.mesh, scene.gt_mesh, eval_samples),
        "fit_wall_s": round(fit_s, 1),
        "fit_cpu_s": round(fit_cpu, 1),
        "overrides": overrides,
        "scene": [image_size, n_views, n_test, inside],
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
    ap.add_argument("--inside", choices=("plain", "textured"), default="plain")
    ap.add_argument("--eval-samples", type=int, default=100_000, help="points per surface")
    ap.add_argument("--save", default=None, help="save the (last) mesh's verts/faces to this .pt")
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
            args.inside,
            args.eval_samples,
            args.save,
        )
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
