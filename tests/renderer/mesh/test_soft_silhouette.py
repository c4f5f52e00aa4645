"""Fused soft silhouette (`soft_silhouette_meshes`, `soft_silhouette`) against the unfused
rasterizer + SoftSilhouetteShader path: values, gradients, and the autograd graph's memory."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from inverse3d.renderer.blending import BlendParams, sigmoid_alpha_blend
from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.mesh import (
    MeshRasterizer,
    MeshRenderer,
    RasterizationSettings,
    SoftSilhouetteShader,
)
from inverse3d.renderer.mesh.rasterize_meshes import rasterize_meshes, soft_silhouette_meshes
from inverse3d.renderer.mesh.rasterizer import Fragments
from inverse3d.renderer.mesh.silhouette import soft_silhouette
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kernel_backends import random_ndc_meshes  # noqa: E402


def random_meshes(sizes, dtype=torch.float64, scale=0.6, seed=0):
    """Random NDC triangles on the CPU (kernel_backends.random_ndc_meshes), float64 by default."""
    return random_ndc_meshes(sizes, "cpu", dtype, scale, seed)


def unfused_alpha(meshes, sigma, **kw):
    """Today's path: rasterize_meshes + sigmoid_alpha_blend (SoftSilhouetteShader's)."""
    p2f, z, b, d = rasterize_meshes(meshes, **kw)
    colors = b.new_ones(()).expand(b.shape)
    img = sigmoid_alpha_blend(colors, Fragments(p2f, z, b, d), BlendParams(sigma=sigma))
    return img[..., 3]


def both(meshes, sigma, seed=1, **kw):
    """(alpha, vertex gradient) of the unfused and the fused path, random cotangent."""
    out = []
    for fn in (unfused_alpha, soft_silhouette_meshes):
        verts = meshes.verts_padded().detach().clone().requires_grad_(True)
        alpha = fn(meshes.update_padded(verts), sigma, **kw)
        cot = torch.rand(alpha.shape, generator=torch.Generator().manual_seed(seed))
        (grad,) = torch.autograd.grad((alpha * cot.to(alpha)).sum(), verts)
        out.append((alpha.detach(), grad))
    return out


@pytest.mark.parametrize("cull", [False, True])
@pytest.mark.parametrize("persp", [False, True])
def test_matches_unfused_float64(cull, persp):
    meshes = random_meshes([14, 0, 9])  # heterogeneous batch with an empty mesh
    sigma = 1e-3
    kw = dict(
        image_size=(12, 10),
        blur_radius=math.log(1 / 1e-4 - 1) * sigma,
        faces_per_pixel=4,
        perspective_correct=persp,
        clip_barycentric_coords=True,
        cull_backfaces=cull,
    )
    (a_ref, g_ref), (a, g) = both(meshes, sigma, **kw)
    assert a.shape == (3, 12, 10) and a.dtype == torch.float64
    assert (a_ref > 0.5).sum() > 5 and (a_ref[1] == 0).all()  # not a trivial image
    torch.testing.assert_close(a, a_ref, rtol=1e-12, atol=1e-13)
    assert g_ref.abs().max() > 0
    torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-12)


def test_matches_unfused_float32_z_clip():
    meshes = random_meshes([20, 6], dtype=torch.float32, seed=3)
    sigma = 1e-3
    kw = dict(image_size=16, blur_radius=5e-3, faces_per_pixel=3, z_clip_value=2.0)
    (a_ref, g_ref), (a, g) = both(meshes, sigma, **kw)
    torch.testing.assert_close(a, a_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-4 * float(g_ref.abs().max()))


def test_more_than_k_faces_at_a_pixel():
    # 6 copies of a triangle, pushed back in depth and grown: every pixel near the centre is
    # covered by all 6, only the K = 2 nearest count
    base = torch.tensor([[-0.5, -0.4, 1.0], [0.5, -0.4, 1.0], [0.0, 0.6, 1.0]], dtype=torch.float64)
    verts = torch.cat([base * torch.tensor([1 + 0.1 * i, 1 + 0.1 * i, 1 + i]) for i in range(6)])
    meshes = Meshes([verts], [torch.arange(18).reshape(6, 3)])
    sigma = 0.05
    kw = dict(image_size=9, blur_radius=0.05, faces_per_pixel=2)
    (a_ref, g_ref), (a, g) = both(meshes, sigma, **kw)
    torch.testing.assert_close(a, a_ref, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-12)
    # with K = 6 the result differs (the selection matters here)
    a6 = soft_silhouette_meshes(meshes, sigma, **{**kw, "faces_per_pixel": 6})
    assert (a6 - a).abs().max() > 1e-3


def test_gradcheck_tiny():
    verts = torch.tensor(
        [[-0.6, -0.5, 2.0], [0.7, -0.4, 2.2], [0.1, 0.6, 1.8], [0.5, 0.5, 3.0]],
        dtype=torch.float64,
        requires_grad=True,
    )
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])

    def fn(v):
        # every pixel within the blur radius of both faces (no pair enters or leaves)
        return soft_silhouette_meshes(
            Meshes([v], [faces]),
            0.05,
            image_size=6,
            blur_radius=10.0,
            faces_per_pixel=2,
            clip_barycentric_coords=True,
        )

    assert torch.autograd.gradcheck(fn, (verts,), eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def saved_numels(fn):
    """numel of every tensor the autograd graph saves while fn() runs."""
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sizes


def test_graph_holds_no_nhwk_tensor():
    meshes = random_meshes([30, 25], dtype=torch.float32)
    verts = meshes.verts_padded().detach().clone().requires_grad_(True)
    m = meshes.update_padded(verts)
    N, H, W, K = 2, 16, 16, 8
    kw = dict(image_size=H, blur_radius=1e-2, faces_per_pixel=K)
    fused = saved_numels(lambda: soft_silhouette_meshes(m, 1e-3, **kw))
    unfused = saved_numels(lambda: unfused_alpha(m, 1e-3, **kw))
    # the unfused path saves (N, H, W, K) dists: the check can fail
    assert max(unfused) >= N * H * W * K
    # fused: per-pixel log sums (N H W) and the face data only
    assert max(fused) <= max(N * H * W, verts.numel() * 3)


def test_public_soft_silhouette_matches_mesh_renderer():
    R, T = look_at_view_transform(2.7, torch.tensor([10.0, 40.0]), torch.tensor([0.0, 120.0]))
    cams = FoVPerspectiveCameras(R=R, T=T)
    sigma = 1e-4
    rs = RasterizationSettings(
        image_size=24, blur_radius=math.log(1 / 1e-4 - 1) * sigma, faces_per_pixel=10
    )
    ren = MeshRenderer(
        MeshRasterizer(cameras=cams, raster_settings=rs),
        SoftSilhouetteShader(blend_params=BlendParams(sigma=sigma)),
    )
    meshes = ico_sphere(2).extend(2)
    out = []
    for fused in (False, True):
        verts = meshes.verts_padded().detach().clone().requires_grad_(True)
        m = meshes.update_padded(verts)
        alpha = soft_silhouette(m, cams, rs, sigma=sigma) if fused else ren(m)[..., 3]
        cot = torch.rand(alpha.shape, generator=torch.Generator().manual_seed(2))
        (grad,) = torch.autograd.grad((alpha * cot).sum(), verts)
        out.append((alpha.detach(), grad))
    (a_ref, g_ref), (a, g) = out
    assert (a_ref > 0.5).sum() > 50
    torch.testing.assert_close(a, a_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-4 * float(g_ref.abs().max()))


def test_argument_errors():
    m = random_meshes([3], dtype=torch.float32)
    with pytest.raises(ValueError, match="sigma"):
        soft_silhouette_meshes(m, sigma=0.0)
    with pytest.raises(ValueError, match="faces_per_pixel"):
        soft_silhouette_meshes(m, sigma=1e-4, faces_per_pixel=0)
    with pytest.raises(TypeError, match="meshes"):
        soft_silhouette_meshes(torch.zeros(3), sigma=1e-4)
    with pytest.raises(TypeError, match="raster_settings"):
        soft_silhouette(m, FoVPerspectiveCameras(), raster_settings={"image_size": 8})


def test_mesh_renderer_routes_fused_shader_only():
    R, T = look_at_view_transform(2.7, 20.0, 30.0)
    cams = FoVPerspectiveCameras(R=R, T=T)
    sigma = 1e-4
    rs = RasterizationSettings(
        image_size=20, blur_radius=math.log(1 / 1e-4 - 1) * sigma, faces_per_pixel=6
    )
    bp = BlendParams(sigma=sigma)
    meshes = ico_sphere(1)
    plain = MeshRenderer(MeshRasterizer(cams, rs), SoftSilhouetteShader(bp))
    fused = MeshRenderer(MeshRasterizer(cams, rs), SoftSilhouetteShader(bp, fused=True))
    ref = plain(meshes)
    sizes = saved_numels(
        lambda: fused(meshes.update_padded(meshes.verts_padded().clone().requires_grad_(True)))
    )
    assert max(sizes) < 20 * 20 * 6  # the fused path ran: no (N, H, W, K) tensor saved
    img = fused(meshes)
    assert img.shape == ref.shape == (1, 20, 20, 4)
    torch.testing.assert_close(img, ref, rtol=1e-5, atol=1e-6)
    # per-call overrides reach the fused path
    rs2 = RasterizationSettings(image_size=(12, 16), blur_radius=rs.blur_radius, faces_per_pixel=3)
    torch.testing.assert_close(
        fused(meshes, raster_settings=rs2, blend_params=BlendParams(sigma=1e-3)),
        plain(meshes, raster_settings=rs2, blend_params=BlendParams(sigma=1e-3)),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(TypeError, match="fused"):
        SoftSilhouetteShader(bp, fused=1)


def test_camera_gradients_match_unfused():
    R, T = look_at_view_transform(2.7, 25.0, 40.0)
    sigma = 1e-3
    rs = RasterizationSettings(image_size=16, blur_radius=1e-2, faces_per_pixel=5)
    meshes = ico_sphere(1)
    out = []
    for fused in (False, True):
        t = T.clone().requires_grad_(True)
        cams = FoVPerspectiveCameras(R=R, T=t)
        ren = MeshRenderer(
            MeshRasterizer(cams, rs), SoftSilhouetteShader(BlendParams(sigma=sigma), fused=fused)
        )
        alpha = ren(meshes)[..., 3]
        cot = torch.rand(alpha.shape, generator=torch.Generator().manual_seed(3))
        (g,) = torch.autograd.grad((alpha * cot).sum(), t)
        out.append(g)
    assert out[0].abs().max() > 0
    torch.testing.assert_close(out[1], out[0], rtol=1e-4, atol=1e-5 * float(out[0].abs().max()))
