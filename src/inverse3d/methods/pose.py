"""Camera pose of one image of a known mesh by differentiable silhouette rendering (book ch.4).

The camera looks at the origin from a learnable centre C (R = look_at_rotation(C), T = -R^T C,
FoVPerspectiveCameras). The soft silhouette of the mesh (SoftSilhouetteShader recipe with sigma 1e-5,
blur radius log(1/1e-4 - 1) sigma, `faces_per_pixel` faces) is fitted to the target silhouette
with Adam from several starts: the given one (the book's (3.0, 6.9, 2.5)) and random directions
at the same distance; the start with the lowest final loss wins, so one local minimum does not
decide the answer. An RGB image without alpha is reduced to a silhouette by background
subtraction (pixels that differ from the corner colour).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from inverse3d._validation import check_nonneg_int, check_positive_int
from inverse3d.methods.base import setting

__all__ = ["PoseConfig", "PoseResult", "estimate_pose", "silhouette_from_image"]


@dataclass
class PoseConfig:
    """Settings of `inverse3d pose`."""

    steps: int = setting(200, "Adam steps per start", low=0)
    restarts: int = setting(4, "random starts in addition to the given start", low=0)
    start: tuple[float, ...] = setting((3.0, 6.9, 2.5), "first camera centre (the book's)")
    lr: float = setting(0.05, "Adam learning rate", low=0.0)
    image_size: int = setting(
        128, "side of the rendered silhouettes (the target is resized to it)", low=8
    )
    fov: float = setting(
        60.0, "field of view of the FoVPerspectiveCameras, degrees", low=1e-3, high=179.0
    )
    faces_per_pixel: int = setting(50, "faces blended per pixel", low=1)
    sigma: float = setting(
        1e-5,
        "soft rasterizer sharpness (1e-5: the silhouette's blur barely biases the distance)",
        low=0,
    )


@dataclass
class PoseResult:
    """The winning camera: centre (3,), R (3, 3), T (3,), its loss, and every start's result."""

    centre: torch.Tensor
    R: torch.Tensor
    T: torch.Tensor
    loss: float
    silhouette: torch.Tensor
    starts: list[dict[str, Any]] = field(default_factory=list)

    def spherical(self) -> dict[str, float]:
        """dist, elev, azim (degrees) of the centre, look_at_view_transform's convention."""
        x, y, z = (float(v) for v in self.centre)
        d = math.sqrt(x * x + y * y + z * z)
        return {
            "dist": d,
            "elev": math.degrees(math.asin(max(-1.0, min(1.0, y / max(d, 1e-12))))),
            "azim": math.degrees(math.atan2(x, z)),
        }


def silhouette_from_image(image: torch.Tensor, threshold: float = 0.05) -> torch.Tensor:
    """(H, W) float silhouette of an image: (H, W) grey / mask values, (H, W, 4) alpha, or
    (H, W, 3) RGB against the median colour of its four corners."""
    if image.dim() == 2:
        return image.float().clamp(0, 1)
    if image.dim() != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"image must have shape (H, W), (H, W, 3) or (H, W, 4); got {tuple(image.shape)}"
        )
    if image.shape[-1] == 4:
        return image[..., 3].float()
    if image.shape[-1] == 1:
        return image[..., 0].float()
    corners = torch.stack([image[0, 0], image[0, -1], image[-1, 0], image[-1, -1]])
    bg = corners.median(0).values
    return ((image - bg).abs().max(-1).values > threshold).float()


def _camera(centre: torch.Tensor, fov: float):
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.look_at import look_at_rotation

    R = look_at_rotation(centre[None], device=centre.device)
    T = -torch.bmm(R.transpose(1, 2), centre[None, :, None])[:, :, 0]
    return FoVPerspectiveCameras(fov=fov, R=R, T=T, device=centre.device), R, T


def estimate_pose(
    mesh,
    image: torch.Tensor,
    config: PoseConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> PoseResult:
    """Estimate the camera that saw `mesh` (batch of 1) as `image` (see silhouette_from_image)."""
    from inverse3d.engine import run_loop
    from inverse3d.renderer.blending import BlendParams
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.renderer.mesh.renderer import MeshRenderer
    from inverse3d.renderer.mesh.shader import SoftSilhouetteShader

    cfg = config or PoseConfig()
    steps = check_nonneg_int(cfg.steps, "steps")
    size = check_positive_int(cfg.image_size, "image_size")
    if len(cfg.start) != 3:
        raise ValueError(f"start must have 3 coordinates; got {list(cfg.start)}")
    device = mesh.device
    sil = silhouette_from_image(image).to(device)
    target = torch.nn.functional.interpolate(sil[None, None], size=(size, size), mode="area")[0, 0]
    renderer = MeshRenderer(
        MeshRasterizer(
            raster_settings=RasterizationSettings(
                image_size=size,
                blur_radius=math.log(1.0 / 1e-4 - 1.0) * cfg.sigma,
                faces_per_pixel=cfg.faces_per_pixel,
            )
        ),
        SoftSilhouetteShader(blend_params=BlendParams(sigma=cfg.sigma, gamma=1e-4)),
    )
    start = torch.tensor(cfg.start, dtype=torch.float32, device=device)
    gen = torch.Generator().manual_seed(seed)
    starts = [start]
    for _ in range(check_nonneg_int(cfg.restarts, "restarts")):
        d = torch.randn(3, generator=gen)
        d[1] = d[1].abs() * 0.5 + 0.1 * d[1].sign()  # keep starts mostly above the horizon
        starts.append(d.to(device) / d.norm() * start.norm())
    results = []
    for s in starts:
        centre = s.clone().requires_grad_(True)
        opt = torch.optim.Adam([centre], lr=cfg.lr)

        def step_fn(step: int, centre=centre, opt=opt) -> torch.Tensor:
            cams, _, _ = _camera(centre, cfg.fov)
            alpha = renderer(mesh, cameras=cams)[0, ..., 3]
            loss = ((alpha - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        run_loop(step_fn, steps, progress=progress, desc="pose")
        with torch.no_grad():
            cams, R, T = _camera(centre.detach(), cfg.fov)
            alpha = renderer(mesh, cameras=cams)[0, ..., 3]
            loss = float(((alpha - target) ** 2).mean())
        results.append(
            {
                "start": s.tolist(),
                "centre": centre.detach().clone(),
                "R": R[0],
                "T": T[0],
                "loss": loss,
                "silhouette": alpha,
            }
        )
    best = min(results, key=lambda r: r["loss"])
    return PoseResult(
        centre=best["centre"],
        R=best["R"],
        T=best["T"],
        loss=best["loss"],
        silhouette=best["silhouette"],
        starts=[
            {"start": r["start"], "centre": r["centre"].tolist(), "loss": r["loss"]}
            for r in results
        ],
    )
