"""PulsarPointsRenderer: PyTorch3D's sphere-based differentiable point renderer interface
(`pytorch3d.renderer.points.pulsar.unified`), built on our point rasterizer.

Every point is a sphere of world radius r. For a pixel whose ray meets sphere i, Pulsar's model
(Lassner & Zollhoefer, "Pulsar", CVPR 2021) gives it

    closeness_i = clamp(1 - |c_i - t_i d| / r_i, 0, 1)    (c_i: centre, t_i = |c_i|, d: the
                                                          unit ray; orthographic: xy distance)
    depth_i     = first ray-sphere intersection distance (orthographic: along z)
    w_i         = closeness_i * opacity_i * exp((1 - (depth_i - znear) / (zfar - znear))
                                                 * opacity_i / gamma)

and the pixel is (bg_col * exp(eps / gamma) + sum_i w_i f_i) / (exp(eps / gamma) + sum_i w_i),
eps = 1e-6 (Pulsar's background_normalized_depth). Spheres whose nearest possible
intersection t_i - r_i lies outside [znear, zfar] are dropped; a sphere smaller than a pixel
gets closeness 1 on the pixels whose ray passes within 0.75 pixel of its centre.

Our implementation finds the candidate spheres of every pixel with `rasterize_points` (disk
radius = an exact bound of the sphere's projected silhouette) and evaluates the formulas above
exactly on the `points_per_pixel` nearest candidates; the result is differentiable w.r.t.
positions, features, radii, opacity and bg_col. Differences to Pulsar are listed in
docs/compat_names.md (only the K nearest candidates are blended; mode=1 is not provided).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn

from inverse3d.renderer.cameras import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
)
from inverse3d.renderer.mesh.rasterize_meshes import pixel_centers_ndc
from inverse3d.renderer.points.rasterize_points import rasterize_points
from inverse3d.structures.pointclouds import Pointclouds

__all__ = ["PulsarPointsRenderer"]

_CAMERAS = (FoVOrthographicCameras, FoVPerspectiveCameras, PerspectiveCameras, OrthographicCameras)
_ORTHO = (FoVOrthographicCameras, OrthographicCameras)
# Pulsar's background_normalized_depth default (its EPS).
_BG_DEPTH = 1e-6
# Candidate spheres per pixel (nearest first) whose hits are blended; Pulsar blends every hit.
_MAX_CANDIDATES = 32
# Camera fields that forward(**kwargs) may override per cloud (batched like PyTorch3D's).
_CAMERA_KWARGS = (
    "R",
    "T",
    "principal_point",
    "focal_length",
    "aspect_ratio",
    "fov",
    "degrees",
    "min_x",
    "max_x",
    "min_y",
    "max_y",
    "znear",
    "zfar",
)


def _image_hw(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, (tuple, list)):
        return int(image_size[0]), int(image_size[1])
    return int(image_size), int(image_size)


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt(max(x, 0)) with finite gradients at 0 (the argument is floored at 1e-30)."""
    return x.clamp(min=1e-30).sqrt()


def _batched(kwargs: dict[str, Any], name: str, idx: int) -> Any:
    """kwargs[name][idx]: PyTorch3D requires these per-cloud values to be indexable."""
    value = kwargs[name]
    if isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be batched (a sequence or tensor with one value per point cloud, "
            f"e.g. ({value},)); got {value!r}"
        )
    return value[idx]


class PulsarPointsRenderer(nn.Module):
    """Render Pointclouds as blended spheres with Pulsar's weighting (see the module docstring).

    Args:
        rasterizer: PointsRasterizer holding the cameras (FoVPerspectiveCameras,
            PerspectiveCameras, FoVOrthographicCameras or OrthographicCameras) and the raster
            settings (image_size; radius, see forward; points_per_pixel = spheres blended per
            pixel).
        compositor: ignored (PyTorch3D accepts one for interface compatibility and warns).
        n_channels: number of feature channels of the images.
        max_num_spheres: accepted for compatibility (no limit here).
        **kwargs: Pulsar renderer options; background_normalized_depth (default 1e-6) is used,
            the others (n_track, right_handed_system, ...) are accepted and ignored.
    """

    def __init__(
        self,
        rasterizer: Any,
        compositor: Any = None,
        n_channels: int = 3,
        max_num_spheres: int = int(1e6),
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.rasterizer = rasterizer
        if compositor is not None:
            warnings.warn(
                "Creating a `PulsarPointsRenderer` with a compositor object! This object is "
                "ignored and just allowed as an argument for interface compatibility.",
                stacklevel=2,
            )
        if not isinstance(rasterizer.cameras, _CAMERAS):
            raise ValueError(
                "Only FoVPerspectiveCameras, PerspectiveCameras, FoVOrthographicCameras and "
                "OrthographicCameras are supported by the pulsar backend; got "
                f"{type(rasterizer.cameras).__name__}"
            )
        self.height, self.width = _image_hw(rasterizer.raster_settings.image_size)
        self.orthogonal = isinstance(rasterizer.cameras, _ORTHO)
        self.n_channels = int(n_channels)
        self.max_num_spheres = int(max_num_spheres)
        self.background_normalized_depth = float(
            kwargs.pop("background_normalized_depth", _BG_DEPTH)
        )
        self.pulsar_options = kwargs

    def to(self, device: Any) -> PulsarPointsRenderer:  # type: ignore[override]
        self.rasterizer = self.rasterizer.to(device)
        return self

    # ---- configuration ----------------------------------------------------------------------
    def _conf_check(self, point_clouds: Any, kwargs: dict[str, Any]) -> None:
        if "gamma" not in kwargs:
            raise ValueError("gamma is a required keyword argument for the PulsarPointsRenderer!")
        cams = self.rasterizer.cameras
        if len(point_clouds) != len(cams) and len(cams) != 1:
            raise ValueError(
                "The len(point_clouds) must either be equal to len(rasterizer.cameras) or only "
                f"one camera must be used. len(point_clouds): {len(point_clouds)}, "
                f"len(rasterizer.cameras): {len(cams)}."
            )
        if isinstance(cams, _ORTHO) != self.orthogonal:
            raise ValueError("The camera type can not be changed after renderer initialization!")
        h, w = _image_hw(self.rasterizer.raster_settings.image_size)
        if (h, w) != (self.height, self.width):
            raise ValueError(
                "The rasterizer image size can not be changed after renderer initialization! "
                f"Current: {(h, w)}. Original: {(self.height, self.width)}."
            )
        if isinstance(cams, (PerspectiveCameras, OrthographicCameras)) and (
            "znear" not in kwargs or "zfar" not in kwargs
        ):
            raise ValueError(
                "pulsar needs znear and zfar values for the PerspectiveCameras and "
                "OrthographicCameras. Please provide them as keyword argument to the forward "
                "method."
            )
        if "first_R_then_T" in kwargs:
            raise ValueError("`first_R_then_T` is not supported in this interface.")
        if int(kwargs.get("mode", 0)) != 0:
            raise ValueError("only mode=0 (render the image) is supported")

    def _camera(self, kwargs: dict[str, Any], idx: int) -> tuple[Any, dict[str, Any]]:
        """The camera of cloud idx and its per-call overrides (batch of one)."""
        cams = self.rasterizer.cameras
        cam = cams[idx if len(cams) > 1 else 0]
        over: dict[str, Any] = {}
        for name in _CAMERA_KWARGS:
            if name not in kwargs or name in ("znear", "zfar"):
                continue
            value = _batched(kwargs, name, idx)
            if name == "degrees":
                over[name] = bool(value)
            else:
                t = torch.as_tensor(value, dtype=torch.float32, device=cam.device)
                over[name] = t[None]
        return cam, over

    def _znear_zfar(self, cam: Any, kwargs: dict[str, Any], idx: int) -> tuple[float, float]:
        if "znear" in kwargs:
            znear = float(_batched(kwargs, "znear", idx))
        else:
            znear = float(torch.as_tensor(cam.znear).reshape(-1)[0])
        if "zfar" in kwargs:
            zfar = float(_batched(kwargs, "zfar", idx))
        else:
            zfar = float(torch.as_tensor(cam.zfar).reshape(-1)[0])
        if not zfar > znear:
            raise ValueError(f"zfar must be > znear; got znear={znear}, zfar={zfar}")
        return znear, zfar

    def _world_radius(
        self, cam: Any, pts_view: torch.Tensor, znear: float, kwargs: dict, idx: int
    ) -> torch.Tensor:
        """(P,) sphere radii in world units, by PyTorch3D's rules."""
        rad = self.rasterizer.raster_settings.radius
        P = pts_view.shape[0]
        if torch.is_tensor(rad):
            rad = rad.to(pts_view)
            if rad.dim() > 1 and rad.numel() > 1:
                rad = rad[idx]
            if rad.dim() == 1 and rad.shape[0] not in (1, P):
                raise ValueError(f"radius must have one value per point ({P}); got {rad.shape}")
        else:
            rad = torch.tensor(float(rad), dtype=pts_view.dtype, device=pts_view.device)
        rad = rad.reshape(-1).expand(P) if rad.numel() == 1 else rad.reshape(P)
        if kwargs.get("radius_world", False) or self.orthogonal:
            return rad
        # the raster radius (NDC) scaled with the distance to the camera over Pulsar's focal
        # length (znear - 1e-6), halved for FoV cameras (PyTorch3D's conversion)
        out = rad / (znear - 1e-6) * pts_view.norm(dim=-1)
        return out if isinstance(cam, PerspectiveCameras) else out / 2.0

    @staticmethod
    def _linear_projection(cam: Any, over: dict[str, Any], dtype) -> tuple[torch.Tensor, ...]:
        """(fx, fy, px, py): x_ndc = fx X / Z + px (orthographic: fx X + px), from the camera."""
        proj = cam.get_projection_transform(**over).compose(cam.get_ndc_camera_transform(**over))
        probe = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=dtype)
        ndc = proj.transform_points(probe.to(device=cam.device, dtype=proj.get_matrix().dtype))
        ndc = ndc.reshape(3, 3).to(dtype)
        return ndc[1, 0] - ndc[0, 0], ndc[2, 1] - ndc[0, 1], ndc[0, 0], ndc[0, 1]

    # ---- rendering --------------------------------------------------------------------------
    def _render_one(
        self,
        pts: torch.Tensor,
        feats: torch.Tensor,
        cam: Any,
        over: dict[str, Any],
        znear: float,
        zfar: float,
        gamma: float,
        bg_col: torch.Tensor,
        opacity: torch.Tensor | None,
        kwargs: dict,
        idx: int,
    ) -> torch.Tensor:
        H, W = self.height, self.width
        dtype = pts.dtype
        view = cam.get_world_to_view_transform(**over).transform_points(pts)  # (P, 3)
        view = view.reshape(-1, 3)
        r = self._world_radius(cam, view, znear, kwargs, idx)
        fx, fy, px, py = self._linear_projection(cam, over, dtype)
        f = torch.maximum(fx.abs(), fy.abs())
        half_px = 1.0 / min(H, W)  # half a pixel in NDC
        X, Y, Z = view.unbind(-1)
        if self.orthogonal:
            t = Z
            x_ndc, y_ndc = fx * X + px, fy * Y + py
            r_ndc = f * r
            keep = (t - r >= znear) & (t - r <= zfar)
        else:
            t = view.norm(dim=-1)
            zs = torch.where(Z.abs() > 1e-12, Z, torch.full_like(Z, 1e-12))
            x_ndc, y_ndc = fx * X / zs + px, fy * Y / zs + py
            # silhouette bound: cone half-angle a = asin(r / t) around the centre direction,
            # at angle b from the optical axis: image radius <= f r / (Z cos(a + b))
            sin_a = (r / t).clamp(max=1.0)
            cos_b = (Z / t).clamp(-1.0, 1.0)
            cos_ab = cos_b * (1 - sin_a**2).sqrt() - (1 - cos_b**2).clamp(min=0).sqrt() * sin_a
            r_ndc = f * r / (Z * cos_ab).clamp(min=1e-12)
            keep = (t - r >= znear) & (t - r <= zfar) & (cos_ab > 1e-6)
        r_ndc = r_ndc * (1 + 1e-4) + 1.5 * half_px  # + the "tiny sphere" reach
        keep_idx = keep.nonzero()[:, 0]
        C = feats.shape[1]
        bg_score = self.background_normalized_depth / gamma
        if keep_idx.numel() == 0:
            return bg_col.to(feats).expand(H, W, C).clone()
        cand = torch.stack([x_ndc, y_ndc, Z], -1)[keep_idx].detach()
        K = min(_MAX_CANDIDATES, int(kwargs.get("max_n_hits", _MAX_CANDIDATES)))
        with torch.no_grad():
            hit, _, _ = rasterize_points(
                Pointclouds([cand]), image_size=(H, W), radius=r_ndc[keep_idx].detach(),
                points_per_pixel=K,
            )  # fmt: skip
        hit = hit[0].reshape(H * W, K)  # indices into keep_idx, nearest first, -1 = none
        rows = (hit[:, 0] >= 0).nonzero()[:, 0]  # the M pixels with a candidate
        k_eff = max(int((hit[rows] >= 0).sum(-1).max()), 1) if rows.numel() else 1
        hit = hit[rows, :k_eff]  # (M, K')
        valid = hit >= 0
        sel = keep_idx[hit.clamp(min=0)]  # (M, K') point indices
        c = view[sel]  # (M, K', 3) sphere centres, differentiable
        rr = r[sel]
        ys, xs = pixel_centers_ndc(H, W, dtype=dtype, device=pts.device)
        pix_y, pix_x = ys[rows // W][:, None], xs[rows % W][:, None]  # (M, 1)
        if self.orthogonal:
            # Pulsar casts its orthographic rays through a pixel corner, half a pixel from
            # the centre (towards +X and -Y of NDC): reproduced to give the same images
            ray_x, ray_y = pix_x + half_px, pix_y - half_px
        else:
            ray_x, ray_y = pix_x, pix_y
        a, b = (ray_x - px) / fx, (ray_y - py) / fy  # (M, 1)
        proj_r_px = f * rr / (2 * half_px)  # projected radius in pixels (perspective: / t)
        if self.orthogonal:
            raydiff = c[..., :2] - torch.stack([a, b], -1)  # (M, K', 2)
            cw = _safe_sqrt((raydiff**2).sum(-1))
            o_p1 = c[..., 2].abs()
            c_p1 = cw
            tol = half_px * (1 + 1e-6)
            center_px = ((x_ndc[sel] - pix_x).abs() < tol) & ((y_ndc[sel] - pix_y).abs() < tol)
        else:
            d = torch.stack([a, b, torch.ones_like(a)], -1)  # (M, 1, 3)
            d = d / d.norm(dim=-1, keepdim=True)
            tc = c.norm(dim=-1)
            cw = _safe_sqrt(((c - d * tc[..., None]) ** 2).sum(-1))
            o_p1 = (c * d).sum(-1)
            c_p1 = _safe_sqrt((tc + o_p1) * (tc - o_p1))
            o_p1 = torch.minimum(o_p1, tc)
            center_px = cw < 1.5 * half_px / f * tc
            proj_r_px = proj_r_px / tc
        closeness = (1 - cw / rr).clamp(0.0, 1.0)
        tiny = center_px & (proj_r_px < 1.0)
        closeness = torch.where(tiny, torch.ones_like(closeness), closeness)
        drawn = valid & ((cw < rr) | center_px)
        p1_p2 = _safe_sqrt((rr + c_p1) * (rr - c_p1))
        depth = o_p1 - p1_p2
        op = opacity[sel] if opacity is not None else torch.ones_like(depth)
        score = (1 - (depth - znear) / (zfar - znear)) * op / gamma  # (M, K')
        # softmax over the drawn spheres and the background, shifted by the largest score
        top = torch.where(drawn, score, torch.full_like(score, -math.inf)).max(-1).values
        m = torch.maximum(top, torch.full_like(top, bg_score)).detach()
        e = torch.exp(torch.where(drawn, score, torch.zeros_like(score)) - m[..., None])
        w = torch.where(drawn, closeness * op * e, torch.zeros_like(e))
        w_bg = torch.exp(bg_score - m)[..., None]  # (M, 1)
        bg = bg_col.to(feats)
        num = (w[..., None] * feats[sel]).sum(1) + w_bg * bg
        image = bg.expand(H * W, C).clone()
        image = image.index_copy(0, rows, num / (w.sum(-1, keepdim=True) + w_bg))
        return image.reshape(H, W, C)

    def forward(self, point_clouds: Any, **kwargs: Any) -> torch.Tensor:
        """Render every cloud with its camera (one camera for all, or one per cloud).

        Args:
            point_clouds: Pointclouds with features (N clouds, n_channels channels).
            **kwargs: gamma (required, one value per cloud, e.g. (1e-4,); in [1e-5, 1],
                small = hard), znear / zfar (one value per cloud; required for
                PerspectiveCameras / OrthographicCameras, else the camera's), radius_world
                (bool: use raster_settings.radius as world radii), bg_col ((C,) tensor,
                default 0), opacity ((P,) tensor in [0, 1]), camera overrides (R, T,
                focal_length, principal_point, fov, aspect_ratio, degrees, min_x, ... one
                per cloud), percent_allowed_difference / max_n_hits (accepted, ignored),
                mode (only 0).

        Returns:
            (N, H, W, C) float images (no alpha channel, as PyTorch3D's).
        """
        if not isinstance(point_clouds, Pointclouds):
            raise TypeError(
                f"point_clouds must be a Pointclouds; got {type(point_clouds).__name__}"
            )
        self._conf_check(point_clouds, kwargs)
        feats_list = point_clouds.features_list()
        if feats_list is None:
            raise ValueError("point_clouds must have features (the colours of the spheres)")
        images = []
        for idx, (pts, feats) in enumerate(zip(point_clouds.points_list(), feats_list)):
            if feats.shape[1] != self.n_channels:
                raise ValueError(
                    f"point cloud {idx} has {feats.shape[1]} feature channels; the renderer "
                    f"was built with n_channels={self.n_channels}"
                )
            cam, over = self._camera(kwargs, idx)
            znear, zfar = self._znear_zfar(cam, kwargs, idx)
            gamma = float(_batched(kwargs, "gamma", idx))
            if not 1e-5 <= gamma <= 1.0:
                raise ValueError(f"gamma must be in [1e-5, 1]; got {gamma}")
            bg = kwargs.get("bg_col")
            bg = feats.new_zeros(feats.shape[1]) if bg is None else torch.as_tensor(bg)
            if bg.shape != (feats.shape[1],):
                raise ValueError(
                    f"bg_col must have shape ({feats.shape[1]},); got {tuple(bg.shape)}"
                )
            opacity = kwargs.get("opacity")
            if opacity is not None and tuple(opacity.shape) != (pts.shape[0],):
                raise ValueError(
                    f"opacity must have shape ({pts.shape[0]},); got {tuple(opacity.shape)}"
                )
            images.append(
                self._render_one(
                    pts, feats, cam, over, znear, zfar, gamma, bg, opacity, kwargs, idx
                )
            )
        return torch.stack(images, 0)

    def extra_repr(self) -> str:
        return f"height={self.height}, width={self.width}, orthogonal={self.orthogonal}"
