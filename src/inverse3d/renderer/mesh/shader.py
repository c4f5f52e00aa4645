"""Shaders: turn Fragments of a rasterized mesh into images (PyTorch3D API).

Every shader is called as ``shader(fragments, meshes, **kwargs)``; cameras=, lights=,
materials=, blend_params= (and znear=/zfar= where used) override the shader's own for one call.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from inverse3d.common.datatypes import make_device
from inverse3d.ops.interp_face_attrs import interpolate_face_attributes
from inverse3d.renderer.blending import (
    BlendParams,
    carrying_slots,
    gather_slots,
    hard_rgb_blend,
    sigmoid_alpha_blend,
    softmax_blend_weights,
    softmax_rgb_blend_slots,
)
from inverse3d.renderer.lighting import PointLights
from inverse3d.renderer.materials import Materials
from inverse3d.renderer.mesh.rasterizer import Fragments
from inverse3d.renderer.mesh.shading import flat_shading, gouraud_shading, phong_shading
from inverse3d.renderer.splatter_blend import SplatterBlender

__all__ = [
    "ShaderBase",
    "HardPhongShader",
    "SoftPhongShader",
    "HardGouraudShader",
    "SoftGouraudShader",
    "HardFlatShader",
    "SoftSilhouetteShader",
    "HardDepthShader",
    "SoftDepthShader",
    "TexturedSoftPhongShader",
    "SplatterPhongShader",
    "carrying_fragments",
]


def _zrange(cameras, kwargs, name, default):
    """znear / zfar: keyword, else the camera's attribute, else the default; tensors (N,)."""
    value = kwargs.get(name, getattr(cameras, name, default))
    return default if value is None else value


def _as_n1(value, like: torch.Tensor):
    """A float or (N,) tensor shaped to broadcast against (N, H, W, 1)."""
    if torch.is_tensor(value):
        return value.to(like).reshape(-1, 1, 1, 1)
    return value


def carrying_fragments(fragments, slots: torch.Tensor) -> Fragments:
    """The fragments of chosen slots, laid out as N images of 1 x M pixels with 1 face each.

    Args:
        fragments: with pix_to_face, zbuf, dists (N, H, W, K) and bary_coords (N, H, W, K, 3).
        slots: (N, M) int64 flat slot indices (h W + w) K + k, -1 = padding (as from
            `renderer.blending.carrying_slots`).

    Returns:
        Fragments with pix_to_face, zbuf, dists (N, 1, M, 1) and bary_coords (N, 1, M, 1, 3);
        padding slots are empty (pix_to_face -1, the other fields -1 as the rasterizer's).
        Differentiable w.r.t. zbuf, bary_coords and dists.
    """
    N, M = slots.shape

    def pick(t, fill):
        return None if t is None else gather_slots(t, slots, fill).reshape(N, 1, M, 1, *t.shape[4:])

    return Fragments(
        pick(fragments.pix_to_face, -1),
        pick(fragments.zbuf, -1.0),
        pick(fragments.bary_coords, -1.0),
        pick(fragments.dists, -1.0),
    )


def _nearest(fragments) -> Fragments:
    """The fragments of the nearest face only (k = 0): all that hard_rgb_blend reads."""
    fields = [getattr(fragments, name, None) for name in Fragments._fields]
    return Fragments(*(t[:, :, :, :1] if torch.is_tensor(t) else t for t in fields))


def _soft_blend(fragments, shade, blend_params, znear, zfar) -> torch.Tensor:
    """softmax_rgb_blend(shade(fragments), fragments, ...) with `shade` called only on the slots
    that carry weight (carrying_fragments); shade returns (N, 1, M, 1, C) colours."""
    if fragments.dists is None:
        raise ValueError("soft shaders need fragments.dists (the rasterizer's); got None")
    weights = softmax_blend_weights(fragments, blend_params, znear, zfar)
    slots = carrying_slots(weights.weights)
    colors = shade(carrying_fragments(fragments, slots))
    N, M = slots.shape
    return softmax_rgb_blend_slots(colors.reshape(N, M, -1), slots, weights, blend_params)


class ShaderBase(nn.Module):
    """Holds cameras, lights (default PointLights), materials (default Materials) and
    blend_params (default BlendParams) of a shader."""

    def __init__(
        self,
        device="cpu",
        cameras=None,
        lights=None,
        materials=None,
        blend_params: BlendParams | None = None,
    ) -> None:
        super().__init__()
        self.lights = lights if lights is not None else PointLights(device=device)
        self.materials = materials if materials is not None else Materials(device=device)
        self.cameras = cameras
        self.blend_params = blend_params if blend_params is not None else BlendParams()

    def _get_cameras(self, **kwargs):
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError(
                "cameras must be given to the shader at initialization or in forward "
                "(cameras=...); got None"
            )
        return cameras

    def _props(self, kwargs, device=None):
        """Lights, materials and blend params of this call; lights and materials left on another
        device than the fragments' (e.g. the default CPU materials with a CUDA mesh) are used
        through a copy on that device."""
        lights = kwargs.get("lights", self.lights)
        materials = kwargs.get("materials", self.materials)
        if device is not None:
            lights, materials = (_on_device(p, device) for p in (lights, materials))
        return lights, materials, kwargs.get("blend_params", self.blend_params)

    def to(self, device):  # type: ignore[override]
        if self.cameras is not None:
            self.cameras = self.cameras.to(device)
        self.materials = self.materials.to(device)
        self.lights = self.lights.to(device)
        return self


def _on_device(props, device):
    """props itself if it is on `device` (or has no device), else a copy moved there."""
    have = getattr(props, "device", None)
    if have is None or make_device(have) == make_device(device):
        return props
    return props.clone().to(device)


class HardPhongShader(ShaderBase):
    """Phong shading, colour of the nearest face: images (N, H, W, C + 1)."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras = self._get_cameras(**kwargs)
        fragments = _nearest(fragments)  # shade only the face that is shown
        texels = meshes.sample_textures(fragments)
        lights, materials, blend_params = self._props(kwargs, fragments.pix_to_face.device)
        colors = phong_shading(meshes, fragments, lights, cameras, materials, texels)
        return hard_rgb_blend(colors, fragments, blend_params)


class SoftPhongShader(ShaderBase):
    """Phong shading blended over the K faces with softmax_rgb_blend (znear/zfar from the
    camera, else 1 and 100): images (N, H, W, C + 1).

    The result is softmax_rgb_blend(phong_shading(..., meshes.sample_textures(fragments)), ...),
    but textures and lighting are evaluated only at the slots whose blending weight is non-zero
    (filled, and not underflowed to 0 by the depth softmax): at 50 faces per pixel that is
    typically a tenth of the slots.
    """

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras = self._get_cameras(**kwargs)
        lights, materials, blend_params = self._props(kwargs, fragments.pix_to_face.device)

        def shade(frags):
            texels = meshes.sample_textures(frags)
            return phong_shading(meshes, frags, lights, cameras, materials, texels)

        znear = _zrange(cameras, kwargs, "znear", 1.0)
        zfar = _zrange(cameras, kwargs, "zfar", 100.0)
        return _soft_blend(fragments, shade, blend_params, znear, zfar)


class HardGouraudShader(ShaderBase):
    """Gouraud shading (TexturesVertex), colour of the nearest face."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras = self._get_cameras(**kwargs)
        fragments = _nearest(fragments)
        lights, materials, blend_params = self._props(kwargs, fragments.pix_to_face.device)
        colors = gouraud_shading(meshes, fragments, lights, cameras, materials)
        return hard_rgb_blend(colors, fragments, blend_params)


class SoftGouraudShader(ShaderBase):
    """Gouraud shading (TexturesVertex) blended with softmax_rgb_blend; the vertex colours are
    interpolated only at the slots that carry weight (as SoftPhongShader)."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras = self._get_cameras(**kwargs)
        lights, materials, blend_params = self._props(kwargs, fragments.pix_to_face.device)

        def shade(frags):
            return gouraud_shading(meshes, frags, lights, cameras, materials)

        znear = _zrange(cameras, kwargs, "znear", 1.0)
        zfar = _zrange(cameras, kwargs, "zfar", 100.0)
        return _soft_blend(fragments, shade, blend_params, znear, zfar)


class HardFlatShader(ShaderBase):
    """Flat (per-face) shading, colour of the nearest face."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras = self._get_cameras(**kwargs)
        fragments = _nearest(fragments)
        texels = meshes.sample_textures(fragments)
        lights, materials, blend_params = self._props(kwargs, fragments.pix_to_face.device)
        colors = flat_shading(meshes, fragments, lights, cameras, materials, texels)
        return hard_rgb_blend(colors, fragments, blend_params)


class SoftSilhouetteShader(nn.Module):
    """Silhouette: RGB of ones and alpha = 1 - prod_k (1 - sigmoid(-dist_k / sigma)).

    fused=True (not in PyTorch3D): a MeshRenderer with a plain MeshRasterizer and this shader
    skips the fragments and computes the alpha with `renderer.mesh.silhouette.soft_silhouette`
    (no (N, H, W, K) tensors; equal up to rounding). Called on fragments, the shader blends
    them as usual.
    """

    def __init__(self, blend_params: BlendParams | None = None, fused: bool = False) -> None:
        super().__init__()
        if not isinstance(fused, bool):
            raise TypeError(f"fused must be a bool; got {type(fused).__name__}")
        self.blend_params = blend_params if blend_params is not None else BlendParams()
        self.fused = fused

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        bary = fragments.bary_coords
        colors = bary.new_ones(()).expand(bary.shape)  # (N, H, W, K, 3) ones, no memory
        blend_params = kwargs.get("blend_params", self.blend_params)
        return sigmoid_alpha_blend(colors, fragments, blend_params)


class HardDepthShader(ShaderBase):
    """Depth (zbuf) of the nearest face, zfar (camera's, else 100) where empty: (N, H, W, 1)."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras = self._get_cameras(**kwargs)
        zbuf = fragments.zbuf[..., 0:1]
        zfar = _as_n1(_zrange(cameras, kwargs, "zfar", 100.0), zbuf)
        empty = fragments.pix_to_face[..., 0:1] < 0
        return torch.where(empty, torch.as_tensor(zfar, dtype=zbuf.dtype), zbuf)


class SoftDepthShader(ShaderBase):
    """Soft depth: the K depths and zfar weighted by the cumulative coverage probabilities
    sigmoid(-dist / sigma) (nearest first, clamped to 1): (N, H, W, 1)."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        if fragments.dists is None:
            raise ValueError("SoftDepthShader needs fragments.dists; got None")
        cameras = self._get_cameras(**kwargs)
        N, H, W, K = fragments.pix_to_face.shape
        zbuf = fragments.zbuf
        zfar = _as_n1(_zrange(cameras, kwargs, "zfar", 100.0), zbuf)
        mask = fragments.pix_to_face >= 0
        prob = torch.sigmoid(-fragments.dists / self.blend_params.sigma) * mask
        ones = torch.ones((N, H, W, 1), dtype=zbuf.dtype, device=zbuf.device)
        depths = torch.cat((zbuf, ones * zfar), dim=3)
        probs = torch.cat((prob, ones), dim=3).cumsum(dim=3).clamp(max=1)
        probs = probs.diff(dim=3, prepend=torch.zeros_like(ones))
        return (probs * depths).sum(dim=3, keepdim=True)


class TexturedSoftPhongShader(SoftPhongShader):
    """Deprecated alias of SoftPhongShader."""

    def __init__(self, device="cpu", cameras=None, lights=None, materials=None, blend_params=None):
        warnings.warn(
            "TexturedSoftPhongShader is deprecated, use SoftPhongShader instead.",
            PendingDeprecationWarning,
            stacklevel=2,
        )
        super().__init__(device, cameras, lights, materials, blend_params)


class SplatterPhongShader(ShaderBase):
    """Phong shading blended by splatting (SplatterBlender, Cole et al. 2021): images
    (N, H, W, 4) whose gradients reach the vertices through the re-projected fragment
    positions, also when the rasterizer itself is not differentiable.

    The colours are shaded from detached fragments; blend_params.sigma is the splat kernel's
    standard deviation in pixels (PyTorch3D warns for anything but 0.5, as here).
    """

    def __init__(self, **kwargs) -> None:
        self.splatter_blender: SplatterBlender | None = None
        super().__init__(**kwargs)

    def to(self, device):  # type: ignore[override]
        if self.splatter_blender is not None:
            self.splatter_blender.to(device)
        return super().to(device)

    def check_blend_params(self, blend_params: BlendParams) -> None:
        if blend_params.sigma != 0.5:
            warnings.warn(
                f"SplatterPhongShader received sigma={blend_params.sigma}. sigma is defined in "
                "pixel units, and any value other than 0.5 is highly unexpected. Only use other "
                "values if you know what you are doing.",
                stacklevel=3,
            )

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras = self._get_cameras(**kwargs)
        lights, materials, blend_params = self._props(kwargs, fragments.pix_to_face.device)
        frags = fragments.detach()
        texels = meshes.sample_textures(frags)
        colors = phong_shading(meshes, frags, lights, cameras, materials, texels)
        verts = meshes.verts_packed()
        # world positions of the fragments: the path of the gradients to the vertices
        coords = interpolate_face_attributes(
            frags.pix_to_face, frags.bary_coords, verts[meshes.faces_packed()]
        )
        if self.splatter_blender is None:
            self.splatter_blender = SplatterBlender(tuple(colors.shape[:4]), colors.device)
        self.check_blend_params(blend_params)
        return self.splatter_blender(colors, coords, cameras, frags.pix_to_face < 0, blend_params)
