"""SoftPhongShader / SoftGouraudShader shade only the slots that carry weight (issue 15): their
images and gradients equal the reference composition softmax_rgb_blend(<shading of every slot>)
(the path the shaders took before), and the slot primitives of renderer/blending.py hold their
contracts on their own."""

from __future__ import annotations

import math
from typing import NamedTuple

import pytest
import torch

from inverse3d.renderer.blending import (
    BlendParams,
    carrying_slots,
    gather_slots,
    hard_rgb_blend,
    softmax_blend_weights,
    softmax_rgb_blend,
    softmax_rgb_blend_slots,
)
from inverse3d.renderer.cameras import FoVPerspectiveCameras
from inverse3d.renderer.lighting import PointLights
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.materials import Materials
from inverse3d.renderer.mesh.rasterizer import Fragments, MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.shader import (
    HardFlatShader,
    HardGouraudShader,
    HardPhongShader,
    SoftGouraudShader,
    SoftPhongShader,
    carrying_fragments,
)
from inverse3d.renderer.mesh.shading import flat_shading, gouraud_shading, phong_shading
from inverse3d.renderer.mesh.textures import TexturesUV, TexturesVertex
from inverse3d.structures.meshes import Meshes
from inverse3d.utils.ico_sphere import ico_sphere


class Frags(NamedTuple):
    pix_to_face: torch.Tensor
    zbuf: torch.Tensor
    bary_coords: torch.Tensor
    dists: torch.Tensor


def random_fragments(N=3, H=4, W=5, K=6, dtype=torch.float64, seed=0) -> Frags:
    """Depth-sorted random fragments; image 1 is empty, image 2 has a few filled slots only;
    depths spread wide enough that the depth softmax underflows some filled slots to 0."""
    g = torch.Generator().manual_seed(seed)
    n_hit = torch.randint(0, K + 1, (N, H, W), generator=g)
    n_hit[0, 0, 0], n_hit[0, 0, 1] = 0, K
    n_hit[1] = 0
    n_hit[2] = torch.where(torch.rand(H, W, generator=g) < 0.3, n_hit[2], 0)
    valid = torch.arange(K) < n_hit[..., None]
    p2f = torch.where(valid, torch.randint(0, 30, (N, H, W, K), generator=g), -1)
    zbuf = torch.sort(torch.rand(N, H, W, K, generator=g, dtype=dtype) * 8 + 1, dim=-1).values
    zbuf = torch.where(valid, zbuf, -1.0)
    dists = torch.where(valid, torch.randn(N, H, W, K, generator=g, dtype=dtype) * 1e-3, -1.0)
    bary = torch.rand(N, H, W, K, 3, generator=g, dtype=dtype)
    return Frags(p2f, zbuf, bary, dists)


def naive_weights(frags, sigma, gamma, znear, zfar):
    """The softmax weights, background weight and alpha of one fragments set, pixel by pixel."""
    N, H, W, K = frags.pix_to_face.shape
    eps = 1e-10
    w = torch.zeros(N, H, W, K, dtype=torch.float64)
    bg = torch.zeros(N, H, W, 1, dtype=torch.float64)
    alpha = torch.zeros(N, H, W, dtype=torch.float64)
    for n in range(N):
        for i in range(H):
            for j in range(W):
                ps, zs = [], []
                for k in range(K):
                    filled = frags.pix_to_face[n, i, j, k] >= 0
                    x = -float(frags.dists[n, i, j, k]) / sigma
                    p = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
                    ps.append(p if filled else 0.0)
                    z = (zfar - float(frags.zbuf[n, i, j, k])) / (zfar - znear)
                    zs.append(z if filled else 0.0)
                zmax = max(max(zs), eps)
                for k in range(K):
                    w[n, i, j, k] = ps[k] * math.exp((zs[k] - zmax) / gamma)
                bg[n, i, j, 0] = max(math.exp((eps - zmax) / gamma), eps)
                alpha[n, i, j] = 1 - math.prod(1 - p for p in ps)
    return w, bg, alpha


class TestSlotPrimitives:
    def test_weights_match_naive(self):
        frags = random_fragments()
        got = softmax_blend_weights(frags, BlendParams(1e-3, 1e-3), znear=0.5, zfar=10.0)
        want = naive_weights(frags, 1e-3, 1e-3, 0.5, 10.0)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-300)

    def test_carrying_slots_are_the_nonzero_weights_in_order(self):
        frags = random_fragments()
        w = softmax_blend_weights(frags, BlendParams(1e-3, 1e-3), znear=0.5, zfar=10.0).weights
        filled = frags.pix_to_face >= 0
        nonzero = w > 0
        assert 0 < int(nonzero.sum()) < int(filled.sum())  # the softmax underflowed some slots
        slots = carrying_slots(w)
        assert slots.shape == (3, int(nonzero.reshape(3, -1).sum(1).max()))
        for n in range(3):
            want = nonzero[n].reshape(-1).nonzero()[:, 0]
            row = slots[n]
            assert torch.equal(row[: len(want)], want)
            assert bool((row[len(want) :] == -1).all())
        assert bool((slots[1] == -1).all())  # the empty image: only padding

    def test_carrying_slots_of_nothing_has_one_padding_column(self):
        slots = carrying_slots(torch.zeros(2, 3, 3, 4))
        assert slots.shape == (2, 1) and bool((slots == -1).all())

    def test_gather_slots_values_fill_and_gradient(self):
        values = torch.randn(2, 3, 4, 5, 3, dtype=torch.float64, requires_grad=True)
        slots = torch.tensor([[0, 7, 59, -1], [3, -1, -1, -1]])
        out = gather_slots(values, slots, fill=-2.0)
        flat = values.detach().reshape(2, 60, 3)
        assert torch.equal(out[0, :3].detach(), flat[0, [0, 7, 59]])
        assert torch.equal(out[1, 0].detach(), flat[1, 3])
        assert bool((out[0, 3] == -2).all()) and bool((out[1, 1:] == -2).all())
        cot = torch.randn_like(out)
        (out * cot).sum().backward()
        want = torch.zeros(2, 60, 3, dtype=torch.float64)
        want[0, [0, 7, 59]] = cot[0, :3]
        want[1, 3] = cot[1, 0]
        torch.testing.assert_close(values.grad.reshape(2, 60, 3), want, rtol=0, atol=0)

    @pytest.mark.parametrize("bg", [(1.0, 1.0, 1.0), (0.1, 0.5, 0.9)])
    def test_slots_blend_equals_dense_blend_values_and_grads(self, bg):
        frags = random_fragments()
        params = BlendParams(1e-3, 1e-3, bg)
        znear, zfar = torch.tensor([0.5, 1.0, 0.7]), torch.tensor([10.0, 20.0, 12.0])
        colors = torch.rand(3, 4, 5, 6, 3, dtype=torch.float64)
        z = frags.zbuf.clone().requires_grad_(True)
        d = frags.dists.clone().requires_grad_(True)
        c = colors.clone().requires_grad_(True)
        f = Frags(frags.pix_to_face, z, frags.bary_coords, d)
        ref = softmax_rgb_blend(c, f, params, znear, zfar)
        cot = torch.randn_like(ref)
        ref_grads = torch.autograd.grad((ref * cot).sum(), (c, z, d))

        weights = softmax_blend_weights(f, params, znear, zfar)
        slots = carrying_slots(weights.weights)
        out = softmax_rgb_blend_slots(gather_slots(c, slots), slots, weights, params)
        grads = torch.autograd.grad((out * cot).sum(), (c, z, d))
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)
        # empty pixels are the background with alpha 0
        empty = (frags.pix_to_face < 0).all(dim=-1)
        torch.testing.assert_close(
            out[empty][:, :3], torch.tensor(bg).double().expand(int(empty.sum()), 3)
        )
        assert bool((out[empty][:, 3] == 0).all())

    def test_padding_colours_do_not_leak(self):
        frags = random_fragments()
        params = BlendParams(1e-3, 1e-3)
        weights = softmax_blend_weights(frags, params, 0.5, 10.0)
        slots = carrying_slots(weights.weights)
        colors = torch.rand(*slots.shape, 3, dtype=torch.float64)
        poisoned = torch.where((slots < 0)[..., None], torch.nan, colors).requires_grad_(True)
        out = softmax_rgb_blend_slots(poisoned, slots, weights, params)
        assert bool(out.isfinite().all())
        out.sum().backward()
        assert bool((poisoned.grad[slots < 0] == 0).all())

    def test_exceptions(self):
        frags = random_fragments()
        params = BlendParams()
        w = softmax_blend_weights(frags, params)
        slots = carrying_slots(w.weights)
        with pytest.raises(ValueError, match="weights must have shape"):
            carrying_slots(torch.zeros(3, 4))
        with pytest.raises(ValueError, match="slots must have shape"):
            gather_slots(frags.zbuf, slots[:2])
        with pytest.raises(ValueError, match="colors must have shape"):
            softmax_rgb_blend_slots(torch.zeros(3, 1, 3), slots, w, params)
        with pytest.raises(ValueError, match="fragments.dists"):
            softmax_blend_weights(frags._replace(dists=None), params)


def scene(dtype):
    """Three views: two different meshes (heterogeneous batch, vertex colours and uv maps) and a
    third whose camera looks away (an empty image)."""
    torch.manual_seed(0)
    a, b = ico_sphere(2), ico_sphere(1)
    va = a.verts_packed().to(dtype)
    vb = (b.verts_packed() * 0.7 + torch.tensor([0.2, -0.1, 0.3])).to(dtype)
    vc = va.clone()
    faces = [a.faces_packed(), b.faces_packed(), a.faces_packed()]
    R, T = look_at_view_transform(2.7, torch.tensor([10.0, 40.0, 0.0]), torch.tensor([0, 120, 0]))
    T[2, 2] = -2.7  # the third camera has the mesh behind it
    cams = FoVPerspectiveCameras(R=R.to(dtype), T=T.to(dtype), dtype=dtype)
    lights = PointLights(location=torch.tensor([[0.5, 1.0, -3.0]], dtype=dtype))
    return [va, vb, vc], faces, cams, lights


def frags_and_meshes(verts, faces, textures, cams, K=12, size=24):
    meshes = Meshes(verts, faces, textures=textures)
    rs = RasterizationSettings(
        image_size=size, blur_radius=math.log(1 / 1e-4 - 1) * 1e-4, faces_per_pixel=K
    )
    return MeshRasterizer(cams, rs)(meshes), meshes


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("texture", ["vertex", "uv"])
def test_soft_phong_equals_reference(dtype, texture):
    verts, faces, cams, lights = scene(dtype)
    params = BlendParams(1e-4, 1e-4, (0.3, 0.6, 0.2))
    g = torch.Generator().manual_seed(1)
    feats = [torch.rand(v.shape, generator=g, dtype=dtype) for v in verts]
    maps = torch.rand(3, 8, 8, 3, generator=g, dtype=dtype)
    uvs = [torch.rand(v.shape[0], 2, generator=g, dtype=dtype) for v in verts]

    def run(shader_fn):
        vs = [v.clone().requires_grad_(True) for v in verts]
        tex_in = [f.clone().requires_grad_(True) for f in feats] if texture == "vertex" else []
        maps_in = maps.clone().requires_grad_(True)
        if texture == "vertex":
            tex = TexturesVertex(tex_in)
        else:
            tex = TexturesUV(maps_in, faces, uvs)
            tex_in = [maps_in]
        frags, meshes = frags_and_meshes(vs, faces, tex, cams)
        img = shader_fn(frags, meshes)
        cot = torch.randn(img.shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
        grads = torch.autograd.grad((img * cot).sum(), vs + tex_in)
        return img.detach(), grads, frags

    def reference(frags, meshes):
        texels = meshes.sample_textures(frags)
        colors = phong_shading(meshes, frags, lights, cams, Materials(), texels)
        return softmax_rgb_blend(colors, frags, params, znear=cams.znear, zfar=cams.zfar)

    shader = SoftPhongShader(cameras=cams, lights=lights, blend_params=params)
    img, grads, frags = run(shader)
    ref, ref_grads, _ = run(reference)
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}
    torch.testing.assert_close(img, ref, **tol)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, **tol)
    assert bool((frags.pix_to_face[2] < 0).all())  # the empty image
    torch.testing.assert_close(
        img[2, ..., :3], torch.tensor(params.background_color, dtype=dtype).expand(24, 24, 3)
    )
    assert float(img[0, ..., 3].max()) > 0.9 and float(img[1, ..., 3].max()) > 0.9
    if dtype == torch.float32:  # the test covers slots dropped although filled
        w = softmax_blend_weights(frags, params, cams.znear, cams.zfar).weights
        assert int((w > 0).sum()) < int((frags.pix_to_face >= 0).sum())


def test_soft_gouraud_equals_reference():
    dtype = torch.float64
    verts, faces, cams, lights = scene(dtype)
    params = BlendParams(1e-4, 1e-4, (0.3, 0.6, 0.2))
    feats = [torch.rand(v.shape, dtype=dtype) for v in verts]

    def run(shader_fn):
        vs = [v.clone().requires_grad_(True) for v in verts]
        fs = [f.clone().requires_grad_(True) for f in feats]
        frags, meshes = frags_and_meshes(vs, faces, TexturesVertex(fs), cams)
        img = shader_fn(frags, meshes)
        cot = torch.randn(img.shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
        return img.detach(), torch.autograd.grad((img * cot).sum(), vs + fs)

    def reference(frags, meshes):
        colors = gouraud_shading(meshes, frags, lights, cams, Materials())
        return softmax_rgb_blend(colors, frags, params, znear=cams.znear, zfar=cams.zfar)

    shader = SoftGouraudShader(cameras=cams, lights=lights, blend_params=params)
    img, grads = run(shader)
    ref, ref_grads = run(reference)
    torch.testing.assert_close(img, ref, rtol=1e-10, atol=1e-10)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_carrying_fragments_layout():
    frags = random_fragments(N=3, H=3, W=4, K=5)
    f = Fragments(*frags)
    slots = torch.tensor([[0, 13, 59], [7, -1, -1], [-1, -1, -1]])
    out = carrying_fragments(f, slots)
    assert out.pix_to_face.shape == (3, 1, 3, 1) and out.bary_coords.shape == (3, 1, 3, 1, 3)
    assert int(out.pix_to_face[0, 0, 1, 0]) == int(frags.pix_to_face.reshape(3, -1)[0, 13])
    assert torch.equal(out.bary_coords[1, 0, 0, 0], frags.bary_coords.reshape(3, -1, 3)[1, 7])
    assert bool((out.pix_to_face[1, 0, 1:] == -1).all()) and bool((out.zbuf[1, 0, 1:] == -1).all())


def test_soft_shaders_need_dists():
    verts, faces, cams, lights = scene(torch.float32)
    frags, meshes = frags_and_meshes(
        verts, faces, TexturesVertex([torch.ones_like(v) for v in verts]), cams
    )
    with pytest.raises(ValueError, match="dists"):
        SoftPhongShader(cameras=cams, lights=lights)(frags._replace(dists=None), meshes)


@pytest.mark.parametrize("name", ["phong", "gouraud", "flat"])
def test_hard_shaders_shade_the_nearest_face_only(name):
    """With K > 1 the hard shaders equal hard_rgb_blend of the shading of all K slots."""
    dtype = torch.float64
    verts, faces, cams, lights = scene(dtype)
    feats = [torch.rand(v.shape, dtype=dtype) for v in verts]
    shader_cls = {"phong": HardPhongShader, "gouraud": HardGouraudShader, "flat": HardFlatShader}
    shading = {"phong": phong_shading, "gouraud": gouraud_shading, "flat": flat_shading}[name]
    params = BlendParams(background_color=(0.3, 0.6, 0.2))

    def run(shader_fn):
        vs = [v.clone().requires_grad_(True) for v in verts]
        fs = [f.clone().requires_grad_(True) for f in feats]
        frags, meshes = frags_and_meshes(vs, faces, TexturesVertex(fs), cams, K=4)
        img = shader_fn(frags, meshes)
        cot = torch.randn(img.shape, generator=torch.Generator().manual_seed(4), dtype=dtype)
        return img.detach(), torch.autograd.grad((img * cot).sum(), vs + fs)

    def reference(frags, meshes):
        args = (meshes, frags, lights, cams, Materials())
        colors = (
            shading(*args) if name == "gouraud" else shading(*args, meshes.sample_textures(frags))
        )
        assert colors.shape[3] == 4
        return hard_rgb_blend(colors, frags, params)

    img, grads = run(shader_cls[name](cameras=cams, lights=lights, blend_params=params))
    ref, ref_grads = run(reference)
    torch.testing.assert_close(img, ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def plain_weights(frags, sigma, gamma, znear, zfar):
    """The weights and background weight by autograd through the formula (PyTorch3D's ops)."""
    mask = frags.pix_to_face >= 0
    prob = torch.where(mask, torch.sigmoid(-frags.dists / sigma), 0.0)
    if torch.is_tensor(zfar):
        zfar, znear = zfar.reshape(-1, 1, 1, 1), znear.reshape(-1, 1, 1, 1)
    z = (zfar - frags.zbuf) / (zfar - znear) * mask
    z_max = z.max(dim=-1, keepdim=True).values.clamp(min=1e-10)
    w = prob * torch.exp((z - z_max) / gamma)
    bg = torch.exp((1e-10 - z_max) / gamma).clamp(min=1e-10)
    return w, bg


@pytest.mark.parametrize("ranges", ["float", "tensor", "tensor_grad"])
def test_weight_gradients_equal_plain_autograd(ranges):
    """The fused weights' backward equals autograd through the formula: random cotangents, empty
    pixels, an empty image, ties in max_k z_k, slots whose weight underflows to 0."""
    frags = random_fragments(N=3, H=4, W=5, K=6)
    zbuf = frags.zbuf.clone()
    zbuf[0, 0, 1, 1] = zbuf[0, 0, 1, 0]  # a tie for the nearest depth
    sigma, gamma = 1e-3, 1e-2
    if ranges == "float":
        znear, zfar = 0.5, 10.0
    else:
        znear = torch.tensor([0.5, 1.0, 0.7], dtype=torch.float64)
        zfar = torch.tensor([10.0, 20.0, 12.0], dtype=torch.float64)
        if ranges == "tensor_grad":
            znear, zfar = znear.requires_grad_(True), zfar.requires_grad_(True)
    results = []
    for fn in ("fused", "plain"):
        d = frags.dists.clone().requires_grad_(True)
        z = zbuf.clone().requires_grad_(True)
        f = Frags(frags.pix_to_face, z, frags.bary_coords, d)
        if fn == "fused":
            out = softmax_blend_weights(f, BlendParams(sigma, gamma), znear, zfar)
            w, bg = out.weights, out.background
        else:
            w, bg = plain_weights(f, sigma, gamma, znear, zfar)
        g = torch.Generator().manual_seed(5)
        cw = torch.randn(w.shape, generator=g, dtype=w.dtype)
        cb = torch.randn(bg.shape, generator=g, dtype=bg.dtype)
        inputs = (d, z) + ((znear, zfar) if ranges == "tensor_grad" else ())
        results.append((w, bg, torch.autograd.grad((w * cw).sum() + (bg * cb).sum(), inputs)))
    (w1, b1, g1), (w2, b2, g2) = results
    torch.testing.assert_close(w1, w2, rtol=1e-12, atol=1e-300)
    torch.testing.assert_close(b1, b2, rtol=1e-12, atol=1e-300)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    assert float(g1[1].abs().max()) > 1.0  # gradients reach the depths


def test_weights_gradcheck():
    frags = random_fragments(N=3, H=2, W=3, K=4, seed=3)
    params = BlendParams(sigma=0.5, gamma=0.5)  # wide, so that every slot has weight

    def fn(d, z):
        w = softmax_blend_weights(
            Frags(frags.pix_to_face, z, frags.bary_coords, d), params, 0.5, 10.0
        )
        return w.weights, w.background, w.alpha

    d = (frags.dists * 300).requires_grad_(True)
    z = frags.zbuf.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (d, z))
