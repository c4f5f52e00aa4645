"""Book workflow (b): train the book's NeuralRadianceField on renders of the textured cow.

Same renders as examples/book_voxel_cow.py (mesh renderer, elevation 0, azimuths over 360
degrees, distance 2.7, black background). Each iteration draws ``batch_size`` training cameras,
``MonteCarloRaysampler`` casts 750 random rays per camera with 128 points between depths 0.1
and 3, `ImplicitRenderer` + `EmissionAbsorptionRaymarcher` render them through the field and a
Huber loss compares colours and opacities with the target images sampled at the rays' NDC
points. Held-out views are rendered in full with `NDCMultinomialRaysampler` and
``batched_forward`` and scored by PSNR.

    python examples/book_nerf_cow.py                     # the book's sizes (slow on a CPU)
    python examples/book_nerf_cow.py --n-iter 2000 --n-harmonic 10 --n-hidden 128
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from inverse3d.eval.metrics import psnr
from inverse3d.models.nerf import NeuralRadianceField
from inverse3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher
from inverse3d.renderer.implicit.raysampling import (
    MonteCarloRaysampler,
    NDCMultinomialRaysampler,
)
from inverse3d.renderer.implicit.renderer import ImplicitRenderer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_voxel_cow import DEFAULT_COW, huber, render_cow  # noqa: E402


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


def train_nerf(
    data: dict,
    n_harmonic_functions: int = 60,
    n_hidden_neurons: int = 256,
    n_iter: int = 20000,
    batch_size: int = 6,
    n_rays_per_image: int = 750,
    n_pts_per_ray: int = 128,
    lr: float = 1e-3,
    max_depth: float = 3.0,
    log_every: int = 100,
    n_batches_render: int = 16,
    seed: int = 0,
) -> dict:
    """Train a `NeuralRadianceField` on data["train_*"]; return it, held-out PSNRs, timings."""
    torch.manual_seed(seed)
    H, W = data["train_images"].shape[1:3]
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
    )
    renderer_grid = ImplicitRenderer(
        NDCMultinomialRaysampler(
            image_width=W,
            image_height=H,
            n_pts_per_ray=n_pts_per_ray,
            min_depth=0.1,
            max_depth=max_depth,
        ),
        raymarcher,
    )
    device = data["train_images"].device
    field = NeuralRadianceField(n_harmonic_functions, n_hidden_neurons).to(device)
    opt = torch.optim.Adam(field.parameters(), lr=lr)
    # the book lowers the learning rate 10x for the last quarter of the iterations
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.75 * n_iter)], gamma=0.1)
    n_train = data["train_images"].shape[0]
    targets = torch.cat((data["train_images"], data["train_silhouettes"][..., None]), dim=-1)
    history = []
    t0 = time.time()
    for it in range(n_iter):
        idx = torch.randperm(n_train)[:batch_size]
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
        if log_every and (it % log_every == 0 or it == n_iter - 1):
            print(f"iter {it:5d}  loss {loss.item():.5f}  {time.time() - t0:.1f}s", flush=True)
    train_time = time.time() - t0
    field.eval()
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
    target = data["test_images"]
    return {
        "model": field,
        "renders": test,
        "psnr": float(psnr(test[..., :3].clamp(0, 1), target)),
        "psnr_background": float(psnr(torch.zeros_like(target), target)),
        "psnr_mean_colour": float(psnr(target.mean((0, 1, 2)).expand_as(target), target)),
        "loss_history": history,
        "train_time_s": train_time,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--obj", default=str(DEFAULT_COW))
    p.add_argument("--n-views", type=int, default=40)
    p.add_argument("--n-test", type=int, default=8)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--n-harmonic", type=int, default=60)
    p.add_argument("--n-hidden", type=int, default=256)
    p.add_argument("--n-iter", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=6)
    p.add_argument("--n-rays", type=int, default=750)
    p.add_argument("--n-pts-per-ray", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="folder for a PNG of held-out renders")
    args = p.parse_args()
    data = render_cow(args.obj, args.n_views, args.n_test, args.image_size)
    if args.device != "cpu":
        data = {k: v.to(args.device) for k, v in data.items()}
    res = train_nerf(
        data,
        args.n_harmonic,
        args.n_hidden,
        args.n_iter,
        args.batch_size,
        args.n_rays,
        args.n_pts_per_ray,
        args.lr,
    )
    print(
        f"held-out PSNR {res['psnr']:.2f} dB over {args.n_test} views "
        f"(black background {res['psnr_background']:.2f} dB, mean colour "
        f"{res['psnr_mean_colour']:.2f} dB); training {res['train_time_s']:.0f}s"
    )
    if args.out:
        import numpy as np
        from PIL import Image

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        rows = torch.cat((data["test_images"].cpu(), res["renders"][..., :3].clamp(0, 1).cpu()), 2)
        img = (rows.reshape(-1, rows.shape[2], 3).numpy() * 255).astype(np.uint8)
        Image.fromarray(img).save(out / "nerf_cow_test_views.png")


if __name__ == "__main__":
    main()
