"""Book workflow (a): fit a voxel grid to renders of the textured cow (ch. 5 set-up).

The target images are made with inverse3d's own mesh renderer: the cow mesh centred and scaled
to [-1, 1], ``n_views`` cameras at elevation 0 and azimuths spread over 360 degrees, distance
2.7, 128 x 128 images, a point light at (0, 0, -3), black background. A ``V^3`` grid of
density and colour logits (densities and colours are their sigmoids) spanning 3 world units is
rendered with `VolumeRenderer` (`NDCMultinomialRaysampler`, 150 points per ray,
`EmissionAbsorptionRaymarcher`) and fitted with a Huber loss on colours and silhouettes, Adam
lr 0.1. The result is scored by PSNR on held-out views (azimuths halfway between training ones).

    python examples/book_voxel_cow.py                 # the book's sizes (128^3, 40 views; GPU)
    python examples/book_voxel_cow.py --device cpu --volume-size 64 --image-size 64 --batch-size 4
    python examples/book_voxel_cow.py --volume-size 64 --n-iter 100 --image-size 64
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from inverse3d.eval.metrics import psnr
from inverse3d.io.obj_io import load_objs_as_meshes
from inverse3d.renderer.blending import BlendParams
from inverse3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from inverse3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher
from inverse3d.renderer.implicit.raysampling import NDCMultinomialRaysampler
from inverse3d.renderer.implicit.renderer import VolumeRenderer
from inverse3d.renderer.lighting import PointLights
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.renderer import MeshRenderer
from inverse3d.renderer.mesh.shader import HardPhongShader
from inverse3d.structures.volumes import Volumes

DEFAULT_COW = Path(__file__).resolve().parents[2] / "shared/data/book/chap2/data/cow_mesh/cow.obj"


def huber(x: torch.Tensor, y: torch.Tensor, scaling: float = 0.1) -> torch.Tensor:
    """The book's pseudo-Huber loss, elementwise: scaling * (sqrt(1 + (x - y)^2 / s^2) - 1)."""
    diff_sq = (x - y) ** 2
    return ((1 + diff_sq / scaling**2).clamp(1e-4).sqrt() - 1) * scaling


def default_device() -> str:
    """ "cuda" when a GPU is visible, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def cow_cameras(
    azimuths: torch.Tensor, dist: float = 2.7, device: str | torch.device = "cpu"
) -> FoVPerspectiveCameras:
    R, T = look_at_view_transform(dist=dist, elev=torch.zeros_like(azimuths), azim=azimuths)
    return FoVPerspectiveCameras(R=R, T=T, device=device)


def render_cow(
    obj_path: str | Path,
    n_views: int = 40,
    n_test: int = 8,
    image_size: int = 128,
    device: str | torch.device = "cpu",
) -> dict:
    """Render training and held-out views of the cow with the mesh renderer on ``device``.

    Returns a dict with train_cameras / test_cameras (FoVPerspectiveCameras), train_images /
    test_images ((N, H, W, 3) float), train_silhouettes / test_silhouettes ((N, H, W) float), all on ``device``.
    """
    mesh = load_objs_as_meshes([str(obj_path)], device=device)
    verts = mesh.verts_packed()
    center = verts.mean(0)
    scale = float((verts - center).abs().max())
    mesh.offset_verts_(-center)
    mesh.scale_verts_(1.0 / scale)
    step = 360.0 / n_views
    train_azim = torch.linspace(-180.0, 180.0, n_views + 1)[:-1]
    test_azim = -180.0 + step / 2 + torch.arange(n_test) * (360.0 / n_test)
    out = {}
    for split, azim in (("train", train_azim), ("test", test_azim)):
        cams = cow_cameras(azim, device=device)
        lights = PointLights(location=[[0.0, 0.0, -3.0]], device=device)
        renderer = MeshRenderer(
            rasterizer=MeshRasterizer(
                cameras=cams,
                raster_settings=RasterizationSettings(image_size=image_size, faces_per_pixel=1),
            ),
            shader=HardPhongShader(
                cameras=cams, lights=lights, blend_params=BlendParams(background_color=(0, 0, 0))
            ),
        )
        with torch.no_grad():
            images = renderer(mesh.extend(len(azim)), cameras=cams, lights=lights)
        out[f"{split}_cameras"] = cams
        out[f"{split}_images"] = images[..., :3].clamp(0.0, 1.0)
        out[f"{split}_silhouettes"] = (images[..., 3] > 0.5).float()
    return out


class VolumeModel(torch.nn.Module):
    """The book's voxel model: density and colour logits of a V^3 grid spanning `extent`."""

    def __init__(self, volume_size: int = 128, extent: float = 3.0) -> None:
        super().__init__()
        V = volume_size
        self.log_densities = torch.nn.Parameter(-4.0 * torch.ones(1, V, V, V))
        self.log_colors = torch.nn.Parameter(torch.zeros(3, V, V, V))
        self.voxel_size = extent / V

    def volumes(self, batch_size: int) -> Volumes:
        densities = torch.sigmoid(self.log_densities)
        colors = torch.sigmoid(self.log_colors)
        return Volumes(
            densities=densities[None].expand(batch_size, *densities.shape),
            features=colors[None].expand(batch_size, *colors.shape),
            voxel_size=self.voxel_size,
        )

    def forward(self, cameras, renderer: VolumeRenderer) -> torch.Tensor:
        images, _ = renderer(cameras=cameras, volumes=self.volumes(len(cameras)))
        return images  # (N, H, W, 4): colour, opacity


def fit_voxels(
    data: dict,
    volume_size: int = 128,
    n_iter: int = 300,
    batch_size: int = 10,
    n_pts_per_ray: int = 150,
    lr: float = 0.1,
    extent: float = 3.0,
    log_every: int = 50,
    seed: int = 0,
) -> dict:
    """Fit a `VolumeModel` to data["train_*"]; return the model, PSNRs and timings.

    Everything runs on the device of data["train_images"] (the cameras must be there too).
    Returns a dict with model, renders ((N_test, H, W, 4) float), psnr, psnr_background,
    psnr_mean_colour, loss_history (list of floats), train_time_s.
    """
    torch.manual_seed(seed)
    H, W = data["train_images"].shape[1:3]
    device = data["train_images"].device
    raysampler = NDCMultinomialRaysampler(
        image_width=W, image_height=H, n_pts_per_ray=n_pts_per_ray, min_depth=0.1, max_depth=extent
    )
    renderer = VolumeRenderer(raysampler=raysampler, raymarcher=EmissionAbsorptionRaymarcher())
    renderer = renderer.to(device)
    model = VolumeModel(volume_size, extent).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_train = data["train_images"].shape[0]
    t0 = time.time()
    history = []
    for it in range(n_iter):
        idx = torch.randperm(n_train)[:batch_size].to(device)
        rendered = model(data["train_cameras"][idx], renderer)
        loss = (
            huber(rendered[..., 3], data["train_silhouettes"][idx]).mean()
            + huber(rendered[..., :3], data["train_images"][idx]).mean()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
        if log_every and (it % log_every == 0 or it == n_iter - 1):
            print(f"iter {it:4d}  loss {history[-1]:.5f}  {time.time() - t0:.1f}s", flush=True)
    train_time = time.time() - t0
    with torch.no_grad():
        test = model(data["test_cameras"], renderer)
    return {
        "model": model,
        "renders": test,
        **held_out_psnrs(test, data["test_images"]),
        "loss_history": history,
        "train_time_s": train_time,
    }


def add_cow_args(p: argparse.ArgumentParser) -> None:
    """Add the options of the cow renders both book examples fit (--obj ... --image-size)."""
    p.add_argument("--obj", default=str(DEFAULT_COW))
    p.add_argument("--n-views", type=int, default=40)
    p.add_argument("--n-test", type=int, default=8)
    p.add_argument("--image-size", type=int, default=128)


def add_run_args(p: argparse.ArgumentParser) -> None:
    """Add the options both book examples end with (--seed, --device, --out)."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=default_device(), help="cpu or cuda (default: cuda if any)")
    p.add_argument("--out", default=None, help="folder for a PNG of held-out renders")


def render_cow_from_args(args: argparse.Namespace) -> dict:
    """`render_cow` with the options of `add_cow_args` on args.device; logs the time taken."""
    device = torch.device(args.device)
    t0 = time.time()
    data = render_cow(args.obj, args.n_views, args.n_test, args.image_size, device=device)
    print(f"rendered {args.n_views} + {args.n_test} views on {device} in {time.time() - t0:.1f}s")
    return data


def held_out_psnrs(renders: torch.Tensor, target: torch.Tensor) -> dict:
    """PSNRs of held-out renders (N, H, W, 4) against target images (N, H, W, 3), and of the two
    baselines: the black background and the targets' mean colour."""
    return {
        "psnr": float(psnr(renders[..., :3].clamp(0, 1), target)),
        "psnr_background": float(psnr(torch.zeros_like(target), target)),
        "psnr_mean_colour": float(psnr(target.mean((0, 1, 2)).expand_as(target), target)),
    }


def report(args: argparse.Namespace, data: dict, res: dict, png_name: str) -> None:
    """Print the held-out PSNRs and timings of a fit; with args.out, save the held-out targets
    and renders side by side as args.out/png_name."""
    n = len(res["loss_history"])
    print(
        f"held-out PSNR {res['psnr']:.2f} dB over {args.n_test} views "
        f"(black background {res['psnr_background']:.2f} dB, mean colour "
        f"{res['psnr_mean_colour']:.2f} dB); training {res['train_time_s']:.1f}s "
        f"({1000 * res['train_time_s'] / max(n, 1):.1f} ms/step)",
        flush=True,
    )
    if args.out:
        import numpy as np
        from PIL import Image

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        rows = torch.cat((data["test_images"].cpu(), res["renders"][..., :3].clamp(0, 1).cpu()), 2)
        img = (rows.reshape(-1, rows.shape[2], 3).numpy() * 255).astype(np.uint8)
        Image.fromarray(img).save(out / png_name)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_cow_args(p)
    p.add_argument("--volume-size", type=int, default=128)
    p.add_argument("--n-iter", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--n-pts-per-ray", type=int, default=150)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--log-every", type=int, default=50)
    add_run_args(p)
    args = p.parse_args(argv)
    data = render_cow_from_args(args)
    res = fit_voxels(
        data,
        volume_size=args.volume_size,
        n_iter=args.n_iter,
        batch_size=args.batch_size,
        n_pts_per_ray=args.n_pts_per_ray,
        lr=args.lr,
        log_every=args.log_every,
        seed=args.seed,
    )
    report(args, data, res, "voxel_cow_test_views.png")
    return res


if __name__ == "__main__":
    main()
