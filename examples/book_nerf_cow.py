"""Book workflow (b): train the book's NeuralRadianceField on renders of the textured cow.

Same renders as examples/book_voxel_cow.py (mesh renderer, elevation 0, azimuths over 360
degrees, distance 2.7, black background). Each iteration draws ``batch_size`` training cameras,
``MonteCarloRaysampler`` casts 750 random rays per camera with 128 points between depths 0.1
and 3, `ImplicitRenderer` + `EmissionAbsorptionRaymarcher` render them through the field and a
Huber loss compares colours and opacities with the target images sampled at the rays' NDC
points. Held-out views are rendered in full with `NDCMultinomialRaysampler` and
``batched_forward`` and scored by PSNR.

Learning rate: the book's Adam at 1e-3 (x0.1 for the last quarter), reached after a linear
warm-up over the first ``warmup_iters`` steps (100 by default). Without it the book-size network
(256 units, 60 or 10 harmonics) stays empty: Adam's first steps move every weight by ~lr whatever its
gradient, which for fan-ins of 360 and 256 raises the still uniform density of all points so
fast that within ~5 steps every ray turns opaque at once; the silhouette gradient of the
background then jumps 10^4-10^5 times above the earlier ones, the field collapses back into the
flat tail of the density's softplus(beta=10) (gradients ~1e-6 and smaller) and Adam's
second-moment estimate, which remembers the jump for thousands of steps (beta2 = 0.999), scales
every later update down to nothing. The loss stays at the empty volume's ~0.26.

    python examples/book_nerf_cow.py                     # the book's sizes (3000 steps; GPU)
    python examples/book_nerf_cow.py --n-iter 2000 --n-harmonic 10 --n-hidden 128 --batch-size 1"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from inverse3d.models.nerf import NeuralRadianceField
from inverse3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher
from inverse3d.renderer.implicit.raysampling import (
    MonteCarloRaysampler,
    NDCMultinomialRaysampler,
)
from inverse3d.renderer.implicit.renderer import ImplicitRenderer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_voxel_cow import (  # noqa: E402
    add_cow_args,
    add_run_args,
    held_out_psnrs,
    huber,
    render_cow_from_args,
    report,
)


def sample_images_at_ndc(images: torch.Tensor, xys: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample images (N, H, W, C) at NDC points xys (N, ..., 2) -> (N, ..., C).

    NDC +X points left and +Y up while grid_sample's -1 is the left column / top row, hence
    the sign flip; NDC +-1 are the image edges (square images), i.e. align_corners=False.
    """
    N, C = images.shape[0], images.shape[-1]
    grid = -xys.reshape(N, -1, 1, 2)
    out = torch.nn.functional.grid_sample(
        images.permute(0, 3, 1, 2), grid, mode="bilinear", align_corners=False
    )  # (N, C, P, 1)
    return out[..., 0].permute(0, 2, 1).reshape(*xys.shape[:-1], C)


def lr_factor(it: int, n_iter: int, warmup_iters: int) -> float:
    """Learning-rate multiplier at step ``it``: linear warm-up, then 1, then 0.1 for the last
    quarter of the steps (the book's schedule)."""
    warm = min(1.0, (it + 1) / warmup_iters) if warmup_iters > 0 else 1.0
    return warm * (0.1 if it >= round(0.75 * n_iter) else 1.0)


def train_nerf(
    data: dict,
    n_harmonic_functions: int = 60,
    n_hidden_neurons: int = 256,
    n_iter: int = 3000,
    batch_size: int = 6,
    n_rays_per_image: int = 750,
    n_pts_per_ray: int = 128,
    lr: float = 1e-3,
    max_depth: float = 3.0,
    log_every: int = 100,
    n_batches_render: int = 16,
    seed: int = 0,
    warmup_iters: int = 100,
    evaluate: bool = True,
    max_train_s: float | None = None,
) -> dict:
    """Train a `NeuralRadianceField` on data["train_*"]; return it, held-out PSNRs, timings.

    Everything runs on the device of data["train_images"] (the cameras must be there too).
    Returns a dict with model, renders ((N_test, H, W, 4) float), psnr, psnr_background,
    psnr_mean_colour, loss_history and opacity_history (the mean rendered opacity of each step;
    lists of floats), train_time_s. With ``evaluate=False`` the held-out views are not
    rendered (renders None, PSNRs NaN). ``max_train_s``: stop training after that many
    seconds (the schedule still assumes ``n_iter`` steps) and evaluate what was learnt.
    """
    torch.manual_seed(seed)
    H, W = data["train_images"].shape[1:3]
    device = data["train_images"].device
    raymarcher = EmissionAbsorptionRaymarcher()
    renderer_mc = ImplicitRenderer(
        MonteCarloRaysampler(
            min_x=-1.0,
            max_x=1.0,
            min_y=-1.0,
            max_y=1.0,
            n_rays_per_image=n_rays_per_image,
            n_pts_per_ray=n_pts_per_ray,
            min_depth=0.1,
            max_depth=max_depth,
        ),
        raymarcher,
    ).to(device)
    renderer_grid = ImplicitRenderer(
        NDCMultinomialRaysampler(
            image_width=W,
            image_height=H,
            n_pts_per_ray=n_pts_per_ray,
            min_depth=0.1,
            max_depth=max_depth,
        ),
        raymarcher,
    ).to(device)
    field = NeuralRadianceField(n_harmonic_functions, n_hidden_neurons).to(device)
    opt = torch.optim.Adam(field.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: lr_factor(it, n_iter, warmup_iters))
    n_train = data["train_images"].shape[0]
    targets = torch.cat((data["train_images"], data["train_silhouettes"][..., None]), dim=-1)
    history, opacity_history = [], []
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.time()
    for it in range(n_iter):
        idx = torch.randperm(n_train)[:batch_size].to(device)
        rendered, rays = renderer_mc(cameras=data["train_cameras"][idx], volumetric_function=field)
        target = sample_images_at_ndc(targets[idx], rays.xys)  # (B, R, 4)
        loss = (
            huber(rendered[..., :3], target[..., :3]).mean()
            + huber(rendered[..., 3], target[..., 3]).mean()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.item())
        opacity_history.append(float(rendered[..., 3].detach().mean()))
        if log_every and (it % log_every == 0 or it == n_iter - 1):
            print(
                f"iter {it:5d}  loss {history[-1]:.5f}  mean opacity "
                f"{opacity_history[-1]:.3f}  {time.time() - t0:.1f}s",
                flush=True,
            )
        if max_train_s is not None and time.time() - t0 > max_train_s:
            print(f"time budget of {max_train_s:.0f}s spent after {it + 1} steps", flush=True)
            break
    sync()
    train_time = time.time() - t0
    field.eval()
    if not evaluate:
        nan = float("nan")
        return {
            "model": field,
            "renders": None,
            "psnr": nan,
            "psnr_background": nan,
            "psnr_mean_colour": nan,
            "loss_history": history,
            "opacity_history": opacity_history,
            "train_time_s": train_time,
        }
    renders = []
    with torch.no_grad():
        cams = data["test_cameras"]
        for i in range(len(cams)):
            img, _ = renderer_grid(
                cameras=cams[[i]],
                volumetric_function=lambda **kw: field.batched_forward(
                    n_batches=n_batches_render, **kw
                ),
            )
            renders.append(img)
    test = torch.cat(renders, 0)
    return {
        "model": field,
        "renders": test,
        **held_out_psnrs(test, data["test_images"]),
        "loss_history": history,
        "opacity_history": opacity_history,
        "train_time_s": train_time,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_cow_args(p)
    p.add_argument("--n-harmonic", type=int, default=60)
    p.add_argument("--n-hidden", type=int, default=256)
    p.add_argument("--n-iter", type=int, default=3000, help="the book's 3000 (tutorial: 20000)")
    p.add_argument("--batch-size", type=int, default=6)
    p.add_argument("--n-rays", type=int, default=750)
    p.add_argument("--n-pts-per-ray", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100, help="linear lr warm-up steps (0: none)")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--max-train-s", type=float, default=None, help="stop training after this")
    add_run_args(p)
    args = p.parse_args(argv)
    data = render_cow_from_args(args)
    res = train_nerf(
        data,
        n_harmonic_functions=args.n_harmonic,
        n_hidden_neurons=args.n_hidden,
        n_iter=args.n_iter,
        batch_size=args.batch_size,
        n_rays_per_image=args.n_rays,
        n_pts_per_ray=args.n_pts_per_ray,
        lr=args.lr,
        log_every=args.log_every,
        seed=args.seed,
        warmup_iters=args.warmup,
        max_train_s=args.max_train_s,
    )
    report(args, data, res, "nerf_cow_test_views.png")
    return res


if __name__ == "__main__":
    main()
