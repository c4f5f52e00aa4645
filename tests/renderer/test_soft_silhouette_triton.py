"""Parity of the Triton fused soft silhouette with its pure-PyTorch reference (values and
gradients), on CUDA (marked cuda) and under the Triton interpreter on CPU tensors (when
triton is importable; TRITON_INTERPRET is set at import when no GPU is present, as in
test_rasterize_triton.py)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inverse3d.utils.ico_sphere import ico_sphere  # noqa: E402
from kernel_backends import BACKENDS, run_compile_script  # noqa: E402 (sets TRITON_INTERPRET)
from kernel_backends import backend_device as _device  # noqa: E402
from kernel_backends import random_ndc_meshes as random_meshes  # noqa: E402

rm = importlib.import_module("inverse3d.renderer.mesh.rasterize_meshes")

# the interpreter evaluates masked-out lanes too (e.g. 1 / 0 on padding faces)
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")


def run_both(monkeypatch, meshes, sigma, seed=1, **kw):
    """(alpha, vertex gradient) of the reference and of the kernel, random cotangent."""
    results = []
    for kernel in (False, True):
        monkeypatch.setattr(rm, "use_triton", lambda *t, k=kernel, **kw: k)
        verts = meshes.verts_padded().detach().clone().requires_grad_(True)
        alpha = rm.soft_silhouette_meshes(meshes.update_padded(verts), sigma, **kw)
        g = torch.Generator().manual_seed(seed)
        cot = torch.rand(alpha.shape, generator=g).to(alpha.device)
        (grad,) = torch.autograd.grad((alpha * cot).sum(), verts)
        results.append((alpha.detach(), grad))
    return results


def assert_parity(res):
    (a_ref, g_ref), (a, g) = res
    torch.testing.assert_close(a, a_ref, rtol=1e-5, atol=2e-6)
    scale = float(g_ref.abs().max())
    assert scale > 0
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=2e-5 * scale)


CASES = {
    "k4_blur": dict(image_size=(12, 10), faces_per_pixel=4, blur_radius=5e-3),
    "k4_persp_clip_cull": dict(
        image_size=12,
        faces_per_pixel=4,
        blur_radius=5e-3,
        perspective_correct=True,
        clip_barycentric_coords=True,
        cull_backfaces=True,
    ),
    "k1": dict(image_size=10, faces_per_pixel=1, blur_radius=2e-3),
    "k20_many": dict(image_size=8, faces_per_pixel=20, blur_radius=2e-2),
    "k50": dict(image_size=(8, 9), faces_per_pixel=50, blur_radius=5e-2),
    "no_blur": dict(image_size=12, faces_per_pixel=3),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_parity_random(backend, case, monkeypatch):
    meshes = random_meshes([12, 0, 7], _device(backend))  # heterogeneous, with an empty mesh
    res = run_both(monkeypatch, meshes, 1e-3, **CASES[case])
    assert (res[0][0] > 0.5).any() and (res[0][0][1] == 0).all()
    assert_parity(res)


@pytest.mark.parametrize("backend", BACKENDS)
def test_more_than_k_faces_and_z_clip(backend, monkeypatch):
    dev = _device(backend)
    meshes = random_meshes([40], dev, scale=1.5, seed=4)  # many overlapping faces
    res = run_both(monkeypatch, meshes, 1e-2, image_size=8, faces_per_pixel=3, blur_radius=1e-2)
    assert_parity(res)
    res = run_both(
        monkeypatch, meshes, 1e-2, image_size=8, faces_per_pixel=3, blur_radius=1e-2,
        z_clip_value=2.0,
    )  # fmt: skip
    assert_parity(res)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_path_saves_no_nhwk_tensor(backend, monkeypatch):
    monkeypatch.setattr(rm, "use_triton", lambda *t, **kw: True)
    meshes = random_meshes([30, 25], _device(backend))
    verts = meshes.verts_padded().detach().clone().requires_grad_(True)
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        alpha = rm.soft_silhouette_meshes(
            meshes.update_padded(verts), 1e-3, image_size=16, faces_per_pixel=8, blur_radius=1e-2
        )
    alpha.sum().backward()
    assert (alpha > 0.5).any() and verts.grad.abs().max() > 0
    assert max(sizes) <= max(2 * 16 * 16, verts.numel() * 3)


@pytest.mark.cuda
def test_workload_size_parity_cuda(monkeypatch):
    # the benchmark's size: 8 x ico_sphere(4), 256^2, K 50, sigma 1e-4
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.look_at import look_at_view_transform
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings

    R, T = look_at_view_transform(
        2.7, torch.linspace(0, 60, 8), torch.linspace(0, 300, 8), device="cuda"
    )
    cams = FoVPerspectiveCameras(device="cuda", R=R, T=T)
    sigma = 1e-4
    rs = RasterizationSettings(
        image_size=256, blur_radius=torch.log(torch.tensor(1 / 1e-4 - 1)).item() * sigma,
        faces_per_pixel=50,
    )  # fmt: skip
    rast = MeshRasterizer(cams, rs)
    m = rast.transform(ico_sphere(4, "cuda").extend(8))
    kw = rast.rasterize_kwargs(cams, rs)
    del kw["bin_size"], kw["max_faces_per_bin"]
    assert_parity(run_both(monkeypatch, m, sigma, **kw))


@pytest.mark.cuda
def test_kernel_path_peak_memory_below_one_nhwk_tensor_cuda(monkeypatch):
    # 8 x ico_sphere(4), 128^2, K 50: one (N, H, W, K) float32 tensor is 26 MB; the fused
    # forward + backward must stay below it (structure, not a speed target)
    monkeypatch.setattr(rm, "use_triton", lambda *t, **kw: True)
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.look_at import look_at_view_transform
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings

    N, S, K = 8, 128, 50
    R, T = look_at_view_transform(2.7, torch.linspace(0, 60, N), 0.0, device="cuda")
    cams = FoVPerspectiveCameras(device="cuda", R=R, T=T)
    rs = RasterizationSettings(image_size=S, blur_radius=9.2e-4, faces_per_pixel=K)
    rast = MeshRasterizer(cams, rs)
    meshes = ico_sphere(4, "cuda").extend(N)
    with torch.no_grad():
        m = rast.transform(meshes)
    verts = m.verts_padded().clone().requires_grad_(True)
    kw = rast.rasterize_kwargs(cams, rs)
    del kw["bin_size"], kw["max_faces_per_bin"]
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    alpha = rm.soft_silhouette_meshes(m.update_padded(verts), 1e-4, **kw)
    alpha.sum().backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    assert (alpha > 0.5).any() and verts.grad.abs().max() > 0
    assert peak < N * S * S * K * 4, peak


_COMPILE_SCRIPT = """
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from inverse3d.renderer.mesh._triton import rasterize as R

sig = {"tab_ptr": "*fp32", "rng_ptr": "*i32", "nb_ptr": "*i32", "xs_ptr": "*fp32",
       "ys_ptr": "*fp32", "seg_ptr": "*i64", "pface_ptr": "*i32", "pzlb_ptr": "*i32",
       "logc_ptr": "*fp32", "g_ptr": "*fp32", "grad_ptr": "*fp32", "F": "i32", "H": "i32",
       "W": "i32", "TX": "i32", "TPI": "i32", "blur": "fp32", "inv_sigma": "fp32"}
for K, persp, clipb, nb, bwd in ((50, False, True, False, False), (50, True, True, True, True)):
    BH, BW, BF, NW = R.tile_shape(K)
    ce = dict(K=K, KP=1 << (K - 1).bit_length(), BH=BH, BW=BW, BF=BF, PERSP=persp,
              CLIPB=clipb, HAS_NB=nb, EARLY=False, BACKWARD=bwd)
    src = ASTSource(R._silhouette_kernel, {**sig, **{k: "constexpr" for k in ce}}, constexprs=ce)
    k = triton.compile(src, target=GPUTarget("cuda", 90, 32),
                       options=dict(num_warps=NW, enable_fp_fusion=False))
    assert "fma.rn.f32" not in k.asm["ptx"], "fused multiply-add in the kernel"
print("compiled")
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton")
def test_kernel_compiles_for_sm90():
    # the interpreter does not type-check like the compiler: build for an H100 (no GPU needed)
    assert "compiled" in run_compile_script(_COMPILE_SCRIPT)
