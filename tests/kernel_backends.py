"""Where the Triton kernel tests run: "cuda" (compiled kernels, marked cuda) or "interp" (the
same kernels on CPU tensors under Triton's interpreter, when triton is importable and there is
no GPU). Importing this module sets TRITON_INTERPRET=1 in the second case, before any kernel
module is imported; the kernel modules are only imported lazily by the ops, so that holds as
long as the test modules import this first. Without triton both backends are skipped."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

HAS_TRITON = importlib.util.find_spec("triton") is not None
INTERP = HAS_TRITON and not torch.cuda.is_available()
if INTERP:
    os.environ["TRITON_INTERPRET"] = "1"

BACKENDS = [
    pytest.param("cuda", marks=pytest.mark.cuda, id="cuda"),
    pytest.param("interp", id="interp"),
]


def backend_device(backend: str) -> torch.device:
    """The device of a backend's tensors; skips when the backend cannot run here."""
    if not HAS_TRITON:
        pytest.skip("triton is not importable")
    if backend == "interp":
        if not INTERP:
            pytest.skip("the interpreter runs only without a GPU (kernels compiled for it)")
        return torch.device("cpu")
    return torch.device("cuda")


def both(monkeypatch, module, fn):
    """fn() with `module.use_triton` forced off (the reference), then forced on (the kernel,
    also for CPU tensors under the interpreter)."""
    monkeypatch.setattr(module, "use_triton", lambda *t, **kw: False)
    ref = fn()
    monkeypatch.setattr(module, "use_triton", lambda *t, **kw: True)
    fast = fn()
    return ref, fast


def grads(out: torch.Tensor, inputs, seed: int):
    """Gradients of sum(out * c) for a seeded random cotangent c."""
    g = torch.Generator().manual_seed(seed)
    cot = torch.randn(out.shape, generator=g, dtype=out.dtype).to(out.device)
    return torch.autograd.grad((out * cot).sum(), inputs, allow_unused=True)


def random_ndc_meshes(sizes, device="cpu", dtype=torch.float32, scale=0.6, seed=0):
    """Meshes of random triangles already in NDC (x/y in about [-1, 1], view z in [1, 5]), the
    input of rasterize_meshes; a size of 0 gives an empty mesh. Seeded, device-independent."""
    from inverse3d.structures.meshes import Meshes

    g = torch.Generator().manual_seed(seed)
    verts, faces = [], []
    for F in sizes:
        centre = torch.rand(F, 1, 3, generator=g) * 1.6 - 0.8
        centre[..., 2] = torch.rand(F, 1, generator=g) * 4 + 1
        jitter = (torch.rand(F, 3, 3, generator=g) - 0.5) * scale * torch.tensor([1, 1, 0.5])
        verts.append((centre + jitter).reshape(-1, 3).to(device=device, dtype=dtype))
        faces.append(torch.arange(3 * F).reshape(F, 3).to(device))
    return Meshes(verts, faces)


def run_compile_script(script: str, timeout: float = 600) -> str:
    """Run `script` in a fresh Python without TRITON_INTERPRET (the interpreter replaces the
    kernels and does not type-check like the compiler), with the project's src on the path, so
    it can build kernels for a GPU target without a GPU. Asserts exit code 0; returns stdout."""
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout
