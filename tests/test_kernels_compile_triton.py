"""The Triton kernels compile for an H100 (sm_90) without a GPU: Triton's front end, the LLVM
back end and the ptxas it ships. Catches what the interpreter accepts but the compiler does not
(plain globals read in a kernel, loop-carried type changes). Runs in a subprocess without
TRITON_INTERPRET (the interpreter replaces the kernels); skipped without triton."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_backends import run_compile_script  # noqa: E402

SCRIPT = r"""
import importlib
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

def comp(module, name, sig, consts, **opts):
    fn = getattr(importlib.import_module(module), name)
    sig = dict(sig, **{k: "constexpr" for k in consts})
    k = triton.compile(ASTSource(fn, sig, consts), target=GPUTarget("cuda", 90, 32), options=opts)
    assert "cubin" in k.asm, name
    print("compiled", name, sig.get("q_ptr", sig.get("x_ptr")))

for ft in ("fp32", "fp64"):
    f = "*" + ft
    sig = dict(offsets_ptr="*i64", pair_pt_ptr="*i64", x_ptr=f, y_ptr=f, r_ptr=f, box_ptr="*i32",
               xs_ptr=f, ys_ptr=f, out_ptr="*i64", P="i32", H="i32", W="i32", TY="i32",
               TX="i32")
    comp("inverse3d.renderer.points._triton.rasterize", "_raster_kernel", sig,
         dict(K=8, KP=8, RESUME=False, TH=16, TW=16, BP=16), enable_fp_fusion=False)
    comp("inverse3d.renderer.points._triton.rasterize", "_raster_kernel", sig,
         dict(K=5, KP=8, RESUME=True, TH=16, TW=16, BP=16), enable_fp_fusion=False)
    base = dict(q_ptr=f, tab_ptr=f, qlo_ptr=f, qhi_ptr=f, tlo_ptr=f, thi_ptr=f, out_ptr="*i64",
                Q="i32", T="i32", TQ="i32", TT="i32")
    mod = "inverse3d.ops._triton.closest_triangle"
    comp(mod, "_closest_triangle_kernel", dict(base, tid_ptr="*i32"), dict(BQ=32, BT=32))
    comp(mod, "_closest_point_kernel", dict(base, qid_ptr="*i32"), dict(BQ=32, BT=32))
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not importable")
def test_kernels_compile_for_sm90():
    out = run_compile_script(SCRIPT)
    assert out.count("compiled") == 8
