"""Cook-Torrance microfacet shading beside the Phong / Gouraud / flat shaders.

BRDF (per colour channel)::

    f(l, v) = (1 - ks) * albedo / pi  +  ks * D(h) G(l, v) F(v, h) / (4 <n, l> <n, v>)

with h the half vector of l and v, alpha = roughness^2 and

* D: the GGX / Trowbridge-Reitz distribution alpha^2 / (pi ((n.h)^2 (alpha^2 - 1) + 1)^2);
* G: the separable Smith shadowing-masking of GGX, G1(l) G1(v) with
  G1(x) = 2 (n.x) / ((n.x) + sqrt(alpha^2 + (1 - alpha^2) (n.x)^2));
* F: Schlick's Fresnel f0 + (1 - f0) (1 - v.h)^5.

With albedo <= 1 and 0 <= ks, f0 <= 1 the directional albedo (integral of f <n, l> over the
hemisphere) is at most 1; f is symmetric in l and v; ks = 0 is the Lambertian BRDF albedo / pi.

Radiance under the library's lights (`PointLights`, `DirectionalLights`, no distance falloff, as
in Phong shading) is `ambient * albedo + pi * f * diffuse_color * max(0, <n, l>)`, so that with
ks = 0 it equals the Lambert term `albedo * (ambient + lights.diffuse(...))` of Phong shading.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from inverse3d.ops.interp_face_attrs import interpolate_face_attributes
from inverse3d.renderer.blending import BlendParams, hard_rgb_blend, softmax_rgb_blend
from inverse3d.renderer.lighting import AmbientLights, DirectionalLights, PointLights
from inverse3d.renderer.mesh.shader import ShaderBase

__all__ = [
    "HardCookTorranceShader",
    "SoftCookTorranceShader",
    "cook_torrance_brdf",
    "cook_torrance_shading",
    "cook_torrance_radiance",
]

_EPS = 1e-7


def _check_vec(name: str, x: torch.Tensor) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., 3); got {tuple(x.shape)}")


def _check_unit_range(name: str, value) -> None:
    v = torch.as_tensor(value)
    if torch.isnan(v).any() or (v < 0).any() or (v > 1).any():
        raise ValueError(f"{name} must lie in [0, 1]; got {value!r}")


def cook_torrance_brdf(
    normals: torch.Tensor,
    light_dirs: torch.Tensor,
    view_dirs: torch.Tensor,
    albedo: torch.Tensor | float,
    roughness: torch.Tensor | float = 0.5,
    f0: torch.Tensor | float = 0.04,
    ks: torch.Tensor | float = 0.5,
) -> torch.Tensor:
    """The Cook-Torrance BRDF value f(l, v) (see the module docstring), zero below the horizon.

    Args:
        normals: (..., 3) float surface normals (need not be unit length).
        light_dirs: (..., 3) float directions from the surface towards the light.
        view_dirs: (..., 3) float directions from the surface towards the viewer.
        albedo: (..., C) float or a float: diffuse reflectance in [0, 1].
        roughness: float or tensor broadcasting to (..., 1) in [0, 1] (alpha = roughness^2;
            clamped below at 1e-3 to keep D finite).
        f0: Fresnel reflectance at normal incidence in [0, 1] (float, (C,) or (..., C)).
        ks: weight of the specular lobe in [0, 1] (the diffuse lobe gets 1 - ks).

    Returns:
        (..., C) float BRDF (1 / sr).
    """
    for name, x in (("normals", normals), ("light_dirs", light_dirs), ("view_dirs", view_dirs)):
        _check_vec(name, x)
    for name, x in (("roughness", roughness), ("f0", f0), ("ks", ks)):
        if not torch.is_tensor(x):
            _check_unit_range(name, x)
    n = F.normalize(normals, dim=-1, eps=_EPS)
    l_ = F.normalize(light_dirs, dim=-1, eps=_EPS)
    v = F.normalize(view_dirs, dim=-1, eps=_EPS)
    h = F.normalize(l_ + v, dim=-1, eps=_EPS)
    nl = (n * l_).sum(-1, keepdim=True)
    nv = (n * v).sum(-1, keepdim=True)
    nh = (n * h).sum(-1, keepdim=True).clamp(min=0.0)
    vh = (v * h).sum(-1, keepdim=True).clamp(min=0.0)
    above = ((nl > 0) & (nv > 0)).to(n.dtype)
    nl_c, nv_c = nl.clamp(min=_EPS), nv.clamp(min=_EPS)
    r = torch.as_tensor(roughness, dtype=n.dtype, device=n.device).clamp(min=1e-3)
    a2 = (r * r) ** 2
    d = a2 / (math.pi * (nh * nh * (a2 - 1.0) + 1.0) ** 2)

    def g1(c: torch.Tensor) -> torch.Tensor:
        return 2.0 * c / (c + torch.sqrt(a2 + (1.0 - a2) * c * c))

    g = g1(nl_c) * g1(nv_c)
    f0_t = torch.as_tensor(f0, dtype=n.dtype, device=n.device)
    fresnel = f0_t + (1.0 - f0_t) * (1.0 - vh) ** 5
    ks_t = torch.as_tensor(ks, dtype=n.dtype, device=n.device)
    alb = torch.as_tensor(albedo, dtype=n.dtype, device=n.device)
    spec = d * g * fresnel / (4.0 * nl_c * nv_c)
    return ((1.0 - ks_t) * alb / math.pi + ks_t * spec) * above


def _light_dirs(lights, points: torch.Tensor) -> torch.Tensor:
    """(N, ..., 3) directions from the points (N, ..., 3) towards the light."""
    if isinstance(lights, PointLights):
        return lights.reshape_location(points) - points
    if isinstance(lights, DirectionalLights):
        d = lights.direction
        return d.reshape(d.shape[0], *([1] * (points.dim() - 2)), 3).expand_as(points)
    raise TypeError(
        f"lights must be PointLights, DirectionalLights or AmbientLights; got {type(lights).__name__}"
    )


def _per_batch(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N, C) -> (N, 1, ..., 1, C) broadcasting against like (N, ..., C')."""
    return value.reshape(value.shape[0], *([1] * (like.dim() - 2)), value.shape[-1])


def cook_torrance_radiance(
    points: torch.Tensor,
    normals: torch.Tensor,
    albedo: torch.Tensor,
    lights,
    camera_position: torch.Tensor,
    roughness: torch.Tensor | float = 0.5,
    f0: torch.Tensor | float = 0.04,
    ks: torch.Tensor | float = 0.5,
) -> torch.Tensor:
    """Radiance towards the cameras: ambient * albedo + pi * f * light colour * max(0, <n, l>).

    Args:
        points: (N, ..., 3) float world-space surface points.
        normals: (N, ..., 3) float normals at the points.
        albedo: (N, ..., C) float diffuse reflectance.
        lights: PointLights, DirectionalLights (batch 1 or N) or AmbientLights (ambient only).
        camera_position: (N, 3) or (1, 3) float camera centres.
        roughness, f0, ks: see `cook_torrance_brdf`.

    Returns:
        (N, ..., C) float radiance.
    """
    _check_vec("points", points)
    _check_vec("normals", normals)
    _check_vec("camera_position", camera_position)
    if normals.shape != points.shape:
        raise ValueError(
            f"normals must have the shape of points {tuple(points.shape)}; got "
            f"{tuple(normals.shape)}"
        )
    ambient = _per_batch(lights.ambient_color.to(albedo.dtype), albedo) * albedo
    if isinstance(lights, AmbientLights):
        return ambient
    cam = _per_batch(camera_position.to(points.dtype), points)
    view = cam - points
    ldir = _light_dirs(lights, points)
    f = cook_torrance_brdf(normals, ldir, view, albedo, roughness, f0, ks)
    cos = (F.normalize(normals, dim=-1, eps=_EPS) * F.normalize(ldir, dim=-1, eps=_EPS)).sum(-1)
    color = _per_batch(lights.diffuse_color.to(albedo.dtype), albedo)
    return ambient + math.pi * f * color * cos.clamp(min=0.0)[..., None]


def cook_torrance_shading(
    meshes, fragments, lights, cameras, texels, roughness=0.5, f0=0.04, ks=0.5
) -> torch.Tensor:
    """Cook-Torrance evaluated per pixel with interpolated positions and vertex normals.

    Args:
        meshes: world-space Meshes (N meshes).
        fragments: Fragments with pix_to_face (N, H, W, K) and bary_coords (N, H, W, K, 3).
        lights, cameras: batch size 1 or N.
        texels: (N, H, W, K, C) float albedo.
        roughness, f0, ks: see `cook_torrance_brdf`.
    Returns:
        (N, H, W, K, C) float radiance.
    """
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    normals = meshes.verts_normals_packed()
    pix_coords = interpolate_face_attributes(
        fragments.pix_to_face, fragments.bary_coords, verts[faces]
    )
    pix_normals = interpolate_face_attributes(
        fragments.pix_to_face, fragments.bary_coords, normals[faces]
    )
    return cook_torrance_radiance(
        pix_coords, pix_normals, texels, lights, cameras.get_camera_center(), roughness, f0, ks
    )


class _CookTorranceBase(ShaderBase):
    def __init__(
        self,
        device="cpu",
        cameras=None,
        lights=None,
        blend_params: BlendParams | None = None,
        roughness: float = 0.5,
        f0: float = 0.04,
        ks: float = 0.5,
    ) -> None:
        super().__init__(device=device, cameras=cameras, lights=lights, blend_params=blend_params)
        for name, x in (("roughness", roughness), ("f0", f0), ("ks", ks)):
            _check_unit_range(name, x)
        self.roughness, self.f0, self.ks = roughness, f0, ks

    def _colors(self, fragments, meshes, kwargs):
        cameras = self._get_cameras(**kwargs)
        texels = meshes.sample_textures(fragments)
        lights, _, blend_params = self._props(kwargs, fragments.pix_to_face.device)
        colors = cook_torrance_shading(
            meshes, fragments, lights, cameras, texels, self.roughness, self.f0, self.ks
        )
        return cameras, colors, blend_params


class HardCookTorranceShader(_CookTorranceBase):
    """Cook-Torrance shading, colour of the nearest face: images (N, H, W, C + 1)."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        _, colors, blend_params = self._colors(fragments, meshes, kwargs)
        return hard_rgb_blend(colors, fragments, blend_params)


class SoftCookTorranceShader(_CookTorranceBase):
    """Cook-Torrance shading blended over the K faces with softmax_rgb_blend (znear/zfar from the
    camera, else 1 and 100): images (N, H, W, C + 1)."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras, colors, blend_params = self._colors(fragments, meshes, kwargs)
        znear = kwargs.get("znear", getattr(cameras, "znear", None))
        zfar = kwargs.get("zfar", getattr(cameras, "zfar", None))
        znear = 1.0 if znear is None else znear
        zfar = 100.0 if zfar is None else zfar
        if torch.is_tensor(znear):
            znear = znear.to(colors).reshape(-1, 1, 1, 1)
        if torch.is_tensor(zfar):
            zfar = zfar.to(colors).reshape(-1, 1, 1, 1)
        return softmax_rgb_blend(colors, fragments, blend_params, znear=znear, zfar=zfar)
