"""Parity of the Triton mesh rasterizer with the pure-PyTorch reference (values and gradients).

Two backends run the same cases: "cuda" (marked cuda) and "interp": the kernel on CPU tensors
under the Triton interpreter, when triton is importable and the interpreter can still be
switched on (TRITON_INTERPRET must be set before triton is first imported; this module sets it
at import when no GPU is present). CI has no triton: the interp cases skip there.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inverse3d.structures.meshes import Meshes  # noqa: E402
from inverse3d.utils.ico_sphere import ico_sphere  # noqa: E402
from kernel_backends import BACKENDS, run_compile_script  # noqa: E402 (sets TRITON_INTERPRET)
from kernel_backends import backend_device as _device  # noqa: E402
from kernel_backends import random_ndc_meshes as random_meshes  # noqa: E402

rm = importlib.import_module("inverse3d.renderer.mesh.rasterize_meshes")

# the interpreter evaluates masked-out lanes too (e.g. 1 / 0 on padding faces)
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")


def run_both(monkeypatch, meshes, seed=1, grads=(1, 2, 3), **kw):
    """Outputs and vertex gradients (random cotangents on the outputs numbered in grads:
    1 zbuf, 2 bary, 3 dists) of the reference and of the kernel path."""
    results = []
    for kernel in (False, True):
        monkeypatch.setattr(rm, "use_triton", lambda *t, k=kernel, **kw: k)
        verts = meshes.verts_padded().detach().clone().requires_grad_(True)
        m = meshes.update_padded(verts)
        outs = rm.rasterize_meshes(m, **kw)
        g = torch.Generator().manual_seed(seed)
        loss = 0.0
        for t in (outs[i] for i in grads):
            cot = torch.randn(t.shape, generator=g).to(t.device)
            loss = loss + (t * cot).sum()
        (grad,) = torch.autograd.grad(loss, verts)
        results.append((outs, grad))
    return results


def assert_parity(results):
    (ref, gref), (ker, gker) = results
    assert torch.equal(ker[0], ref[0]), "pix_to_face differs"
    for name, a, b in zip(("zbuf", "bary", "dists"), ker[1:], ref[1:]):
        assert torch.equal(a, b), f"{name} differs"
    # same pairs and formulas; only the order in which pair gradients are summed per vertex
    # differs (and CUDA's atomics), so the gap is float rounding of the largest terms
    gap = (gker - gref).abs().max().item()
    assert gap <= 1e-5 * gref.abs().max().item() + 1e-6, f"gradient gap {gap}"
    assert gref.abs().max() > 0


CASES = {
    "k1": dict(image_size=16, faces_per_pixel=1),
    "k1_persp": dict(image_size=16, faces_per_pixel=1, perspective_correct=True),
    "k8_blur": dict(image_size=16, faces_per_pixel=8, blur_radius=2e-3),
    "k8_blur_persp_clip": dict(
        image_size=16,
        faces_per_pixel=8,
        blur_radius=4e-3,
        perspective_correct=True,
        clip_barycentric_coords=True,
    ),
    "k8_cull": dict(image_size=16, faces_per_pixel=8, blur_radius=1e-3, cull_backfaces=True),
    "k50_blur": dict(image_size=12, faces_per_pixel=50, blur_radius=1e-2),
    "nonsquare": dict(image_size=(10, 23), faces_per_pixel=3, blur_radius=1e-3),
    "nonsquare_tall": dict(image_size=(21, 9), faces_per_pixel=2, perspective_correct=True),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_parity_random(backend, case, monkeypatch):
    meshes = random_meshes((30, 18), _device(backend))
    res = run_both(monkeypatch, meshes, **CASES[case])
    assert (res[0][0][0] >= 0).any()  # something was drawn
    assert_parity(res)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dists_only_gradients(backend, monkeypatch):
    # silhouettes: only dists reaches the loss, the backward then uses the saved nearest edges
    meshes = random_meshes((30, 18), _device(backend), seed=5)
    kw = dict(image_size=16, faces_per_pixel=8, blur_radius=3e-3)
    assert_parity(run_both(monkeypatch, meshes, grads=(3,), **kw))


@pytest.mark.parametrize("backend", BACKENDS)
def test_heterogeneous_batch_with_empty_mesh(backend, monkeypatch):
    meshes = random_meshes((25, 0, 9), _device(backend), seed=3)
    res = run_both(monkeypatch, meshes, image_size=(12, 16), faces_per_pixel=4, blur_radius=1e-3)
    p2f = res[1][0][0]
    assert (p2f[1] == -1).all() and (p2f[0] >= 0).any() and (p2f[2] >= 25).any()
    assert_parity(res)


@pytest.mark.parametrize("backend", BACKENDS)
def test_degenerate_faces_and_ties(backend, monkeypatch):
    dev = _device(backend)
    tri = torch.tensor([[0.7, -0.6, 2.0], [-0.6, -0.5, 2.0], [0.1, 0.8, 2.0]])
    line = torch.tensor([[-0.5, -0.5, 1.0], [0.0, 0.0, 1.0], [0.5, 0.5, 1.0]])  # zero area
    point = torch.tensor([[0.1, 0.1, 1.0]] * 3)  # zero area
    # faces 0, 3 and 4 are the same plane z = 2 (equal depths: lower face index first), 2 is
    # nearer and smaller
    small = tri * torch.tensor([0.5, 0.5, 0.75])
    v = torch.cat((tri, line, small, tri, tri.flip(0), point)).to(dev)
    m = Meshes([v], [torch.arange(18).reshape(6, 3).to(dev)])
    for kw in (
        dict(faces_per_pixel=4),
        dict(faces_per_pixel=1, blur_radius=1e-3, clip_barycentric_coords=True),
        dict(faces_per_pixel=3, perspective_correct=True),
    ):
        res = run_both(monkeypatch, m, image_size=16, **kw)
        p2f = res[0][0][0]
        assert not ((p2f == 1) | (p2f == 5)).any()  # zero-area faces are never drawn
        assert_parity(res)
    p2f = res[1][0][0]
    # a pixel covered by the three equal-depth faces only: ordered by face index
    assert ((p2f[0, ..., :3] == torch.tensor([0, 3, 4], device=dev)).all(-1)).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_faces_on_one_tile_no_overflow(backend, monkeypatch):
    # F stacked triangles covering the whole (one-tile) image: every face is a candidate of
    # every pixel, far more than any fixed bin would hold; the K nearest must be found.
    dev = _device(backend)
    F = 20000 if backend == "cuda" else 800
    base = torch.tensor([[3.0, -3.0, 0.0], [-3.0, -3.0, 0.0], [0.0, 3.0, 0.0]])
    z = torch.randperm(F).float() * 1e-3 + 1.0  # distinct depths
    v = (base[None] + torch.stack((torch.zeros(F), torch.zeros(F), z), 1)[:, None]).reshape(-1, 3)
    m = Meshes([v.to(dev)], [torch.arange(3 * F).reshape(F, 3).to(dev)])
    res = run_both(monkeypatch, m, image_size=(8, 8), faces_per_pixel=8, blur_radius=1e-4)
    order = torch.argsort(z)[:8].to(dev)
    assert (res[1][0][0][0] == order).all()
    assert_parity(res)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sphere_early_out_is_exact(backend, monkeypatch):
    # closed sphere covering the whole image, blur 0: every pixel fills up, so the
    # depth-ordered walk stops early; K = 1 and 2 see the front and the back layer, with and
    # without perspective correction
    dev = _device(backend)
    s = ico_sphere(2, device=dev)
    v = s.verts_padded() * torch.tensor([2.0, 2.0, 1.5], device=dev)
    v = v + torch.tensor([0.05, -0.02, 3.0], device=dev)
    m = Meshes(v, s.faces_padded())
    for kw in (dict(faces_per_pixel=1), dict(faces_per_pixel=2, perspective_correct=True)):
        res = run_both(monkeypatch, m, image_size=(20, 24), **kw)
        assert (res[0][0][0][..., -1] >= 0).all()
        assert_parity(res)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("persp", [False, True])
def test_early_out_keeps_a_face_just_in_front(backend, persp, monkeypatch):
    # One 16x16 tile. Face 0: a huge plane z = 2 + 0.0005 x (min depth 1.985, depth 1.9995 to
    # 2.0005 over the image, 2.00003 at pixel (7, 7), whose centre is x = y = 1/16).
    # Faces 1-40: tiny faces at z = 1.99 in a corner. Face 41: a small face from z = 1.995
    # (next to pixel (7, 7), where its depth is 1.9994) to 2.1. Faces 42-101: planes behind
    # (z 2.001 to 2.01).
    # Walk order: face 0 (first) fills the tile (K-th depth <= 2.0005), the next chunks start
    # at bound 1.99 and must be walked: one holds face 41, which wins pixel (7, 7). A depth
    # bound inflated by 1% (2.0099), a walk that stops after the first chunk or faces sorted
    # by their far vertex would lose it.
    dev = _device(backend)
    g = torch.Generator().manual_seed(0)
    big = torch.tensor([[3.0, -3.0, 0.0], [-3.0, -3.0, 0.0], [0.0, 3.0, 0.0]])
    tilted = big * 10 + torch.tensor([[0.0, 0.0, 2.015], [0.0, 0.0, 1.985], [0.0, 0.0, 2.0]])
    tiny = torch.tensor([[-0.95, -0.95, 1.99], [-0.8, -0.95, 1.99], [-0.95, -0.8, 1.99]])
    tiny = tiny[None] + (torch.rand(40, 1, 3, generator=g) * 0.2) * torch.tensor([1, 1, 0])
    c = 1.0 / 16
    d = c - 0.005
    small = torch.tensor([[d, d, 1.995], [c + 0.3, c - 0.05, 2.1], [c - 0.1, c + 0.3, 2.1]])
    z = torch.rand(60, generator=g) * 0.009 + 2.001
    planes = big[None] + torch.stack((torch.zeros_like(z), torch.zeros_like(z), z), 1)[:, None]
    v = torch.cat((tilted, tiny.reshape(-1, 3), small, planes.reshape(-1, 3))).to(dev)
    m = Meshes([v], [torch.arange(v.shape[0]).reshape(-1, 3).to(dev)])
    res = run_both(monkeypatch, m, image_size=16, faces_per_pixel=1, perspective_correct=persp)
    p2f = res[1][0][0][0, ..., 0]
    assert p2f[7, 7] == 41 and (p2f == 0).sum() > 150
    assert_parity(res)


@pytest.mark.parametrize("backend", BACKENDS)
def test_z_clip_split_faces(backend, monkeypatch):
    # faces crossing the z clip plane are split into halves (clipped_faces_neighbor_idx): the
    # kernel must drop the same duplicate half as the reference
    dev = _device(backend)
    v = torch.tensor(
        [
            [0.6, -0.5, 0.2],
            [-0.7, -0.4, 1.6],
            [0.1, 0.8, 1.4],  # one vertex in front of the plane: 1 triangle
            [0.8, 0.7, 0.1],
            [-0.2, 0.9, 0.15],
            [-0.8, -0.9, 2.0],  # two vertices in front: 2 triangles (a quad)
            [0.9, -0.9, 1.1],
            [-0.9, 0.1, 1.3],
            [0.3, 0.9, 1.2],
        ]
    ).to(dev)
    m = Meshes([v], [torch.arange(9).reshape(3, 3).to(dev)])
    for kw in (
        dict(faces_per_pixel=3, blur_radius=2e-2),
        dict(faces_per_pixel=1, perspective_correct=True),
    ):
        res = run_both(monkeypatch, m, image_size=16, z_clip_value=0.5, **kw)
        assert (res[0][0][0] >= 0).any()
        assert_parity(res)


@pytest.mark.parametrize("backend", BACKENDS)
def test_select_faces_validates(backend):
    _device(backend)  # skips where this backend cannot run
    tri = importlib.import_module("inverse3d.renderer.mesh._triton.rasterize")
    fv = torch.zeros(1, 3, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match="float32"):
        tri.select_faces(fv, fv.reshape(9, 1), (None,) * 5, None, 1, fv, fv, 1, 0.0, False, False)
    with pytest.raises(TypeError, match="float32"):
        rm.rasterize_face_verts(
            fv, torch.zeros(1, dtype=torch.long), 1, (4, 4), 0.0, 1, False, False, False,
            kernel=True,
        )  # fmt: skip


_COMPILE_SCRIPT = """
import sys
from pathlib import Path
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from inverse3d.renderer.mesh._triton import rasterize as R

sig = {"tab_ptr": "*fp32", "rng_ptr": "*i32", "nb_ptr": "*i32", "xs_ptr": "*fp32",
       "ys_ptr": "*fp32", "seg_ptr": "*i64", "pface_ptr": "*i32", "pzlb_ptr": "*i32",
       "out_ptr": "*i64", "F": "i32", "H": "i32", "W": "i32", "TX": "i32", "TPI": "i32",
       "blur": "fp32"}
for K, persp, clipb, nb, early in ((1, True, True, True, True), (8, False, False, False, False)):
    BH, BW, BF, NW = R.tile_shape(K)
    ce = dict(K=K, KP=1 << (K - 1).bit_length(), BH=BH, BW=BW, BF=BF, PERSP=persp,
              CLIPB=clipb, HAS_NB=nb, EARLY=early)
    src = ASTSource(R._raster_kernel, {**sig, **{k: "constexpr" for k in ce}}, constexprs=ce)
    k = triton.compile(src, target=GPUTarget("cuda", 90, 32),
                       options=dict(num_warps=NW, enable_fp_fusion=False))
    ptx = k.asm["ptx"]
    assert "fma.rn.f32" not in ptx, "fused multiply-add in the kernel"
    assert "div.full" not in ptx and "rcp.approx" not in ptx, "approximate division"
    assert (ptx.count("div.rn.f32") > 0) == persp, "perspective divisions not correctly rounded"
print("compiled")
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton")
def test_kernel_compiles_for_sm90_without_fma():
    # The interpreter does not type-check like the compiler: build the kernel for an H100
    # (no GPU needed) and check that the exactness assumptions hold in the generated code.
    assert "compiled" in run_compile_script(_COMPILE_SCRIPT)
