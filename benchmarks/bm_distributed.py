"""Throughput of data-parallel training and of many-object jobs on 1, 2, 4 ... ranks.

GPU (one node, NCCL; the numbers of benchmarks/RESULTS.md):

    PYTHONPATH=src python benchmarks/bm_distributed.py --ranks 1,2,4 --device cuda

CPU (gloo; a sanity check, not a speed-up claim on a shared box):

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bm_distributed.py --ranks 1,2 \\
        --device cpu --workloads nerf,objects --steps 20 --rays 1024 --objects 4 --sdf-steps 20

For each N of --ranks the driver starts
``python -m torch.distributed.run --standalone --nproc-per-node N benchmarks/bm_distributed.py
--worker ...`` (exactly what ``torchrun --nproc-per-node N benchmarks/bm_distributed.py --worker
...`` does) and prints one Markdown table with the speed-up over the first N. Workloads:

- ``nerf`` / ``sdf`` / ``volume`` / ``dvr``: the method's `fit` on the built-in scene through
  `engine.Loop` in its data-parallel mode. Throughput = global rays per step x steps / the loop's
  wall time (rank 0; mesh extraction after the loop excluded), after --warmup steps of an
  untimed run. ``--scaling weak`` (default) keeps --rays per rank (global batch = N x --rays, the
  usual multi-GPU set-up); ``--scaling strong`` splits a global batch of --rays over the ranks
  (what gives the same result as one process).
- ``objects``: `pipeline.fit_sdf.run_fit_sdf` (the `inverse3d fit-sdf DIR` job) on --objects
  meshes sharded over the ranks; throughput = objects / wall time of the job (evaluation
  included, as a user sees it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _timed_loop_class(cuda: bool):
    import torch

    from inverse3d.engine import Loop

    class TimedLoop(Loop):
        """A Loop that keeps the wall time of its last run (CUDA synchronised around it)."""

        time_s = 0.0

        def run(self, step_fn, n_steps, state=None, desc=""):
            if cuda:
                torch.cuda.synchronize()
            result = super().run(step_fn, n_steps, state, desc)
            if cuda:
                torch.cuda.synchronize()
            self.time_s = result.time_s
            return result

    return TimedLoop


def _worker(args: argparse.Namespace) -> None:
    from inverse3d import distributed
    from inverse3d.engine import seed_everything

    distributed.init_from_env()
    n, main = distributed.world_size(), distributed.is_main()
    device = args.device
    TimedLoop = _timed_loop_class(args.device.startswith("cuda"))
    rows = []
    for workload in args.workloads.split(","):
        seed_everything(0)
        if workload == "objects":
            rows.append(_objects(args, device, n))
            continue
        from inverse3d.methods import REGISTRY
        from inverse3d.pipeline.reconstruct import RunSettings, load_run_scene, rank_config

        scene = load_run_scene(RunSettings(device=device), device)
        method = REGISTRY[workload]
        global_rays = args.rays * n if args.scaling == "weak" else args.rays
        loop = TimedLoop(progress=False)
        for steps in (args.warmup, args.steps):
            config = method.config_cls(
                steps=steps, rays_per_step=global_rays, **_small_mesh(workload)
            )
            distributed.barrier()
            method.fit(rank_config(config), scene, loop)
        rows.append(
            {
                "workload": workload,
                "ranks": n,
                "global_rays": global_rays,
                "steps": args.steps,
                "loop_s": loop.time_s,
                "throughput": global_rays * args.steps / loop.time_s,
                "unit": "rays/s",
            }
        )
    if main:
        print("RESULT " + json.dumps(rows), flush=True)


def _small_mesh(workload: str) -> dict:
    """Settings that keep the (untimed) mesh extraction after the loop short."""
    if workload == "nerf":
        return {"mesh_resolution": 32}
    return {}


def _objects(args: argparse.Namespace, device: str, n: int) -> dict:
    import torch

    from inverse3d import distributed
    from inverse3d.io import IO
    from inverse3d.methods.fit_sdf import FitSdfConfig
    from inverse3d.pipeline.fit_sdf import run_fit_sdf
    from inverse3d.utils import ico_sphere

    work = Path(args.tmp)
    meshes = work / "meshes"
    if distributed.is_main():
        meshes.mkdir(parents=True, exist_ok=True)
        g = torch.Generator().manual_seed(0)
        for i in range(args.objects):  # lumpy spheres, one shape per object
            m = ico_sphere(3)
            v = m.verts_packed()
            bump = 1.0 + 0.3 * torch.sin(v @ (torch.randn(3, 4, generator=g) * 3)).mean(-1)
            IO().save_mesh(m.update_padded((v * bump[:, None])[None]), meshes / f"o{i:03d}.obj")
    distributed.barrier()
    config = FitSdfConfig(steps=args.sdf_steps)
    out = work / f"objects-{n}"
    distributed.barrier()
    t0 = time.perf_counter()
    report = run_fit_sdf(
        [meshes], out, config, device=device, progress=False, eval_points=20_000, mc_resolution=64
    )
    distributed.barrier()
    wall = time.perf_counter() - t0
    ok = sum(r["status"] == "ok" for r in report["objects"])
    return {
        "workload": "objects",
        "ranks": n,
        "objects": args.objects,
        "ok": ok,
        "steps": args.sdf_steps,
        "loop_s": wall,
        "throughput": args.objects / wall,
        "unit": "objects/s",
    }


def _driver(args: argparse.Namespace, argv: list[str]) -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in args.ranks.split(",")]:
            cmd = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc-per-node",
                str(n),
                str(Path(__file__).resolve()),
                "--worker",
                "--tmp",
                tmp,
                *argv,
            ]
            print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                sys.exit(f"{n} ranks failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            results += json.loads(lines[-1][len("RESULT ") :])
    base = {}
    print(f"device {args.device}, scaling {args.scaling}, load average {os.getloadavg()[0]:.1f}")
    print("| workload | ranks | throughput | speed-up vs first | wall s |")
    print("|---|---|---|---|---|")
    for r in results:
        base.setdefault(r["workload"], r["throughput"])
        print(
            f"| {r['workload']} | {r['ranks']} | {r['throughput']:.4g} {r['unit']} "
            f"| {r['throughput'] / base[r['workload']]:.2f}x | {r['loop_s']:.2f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ranks", default="1,2,4", help="numbers of processes to compare")
    p.add_argument("--device", default="cuda", help="cuda (NCCL) or cpu (gloo)")
    p.add_argument("--workloads", default="nerf,sdf,objects", help="nerf,sdf,volume,dvr,objects")
    p.add_argument("--scaling", default="weak", choices=("weak", "strong"))
    p.add_argument("--rays", type=int, default=4096, help="rays per step (per rank when weak)")
    p.add_argument("--steps", type=int, default=200, help="timed steps")
    p.add_argument("--warmup", type=int, default=10, help="steps of the untimed first run")
    p.add_argument("--objects", type=int, default=16, help="meshes of the many-object job")
    p.add_argument("--sdf-steps", type=int, default=300, help="fit-sdf steps per object")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tmp", default=None, help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = p.parse_args(argv)
    if args.worker:
        _worker(args)
    else:
        passed = []
        skip = False
        for a in argv:  # forward everything but --ranks / --json to the workers
            if skip:
                skip = False
                continue
            if a in ("--ranks", "--json"):
                skip = True
                continue
            if a.startswith(("--ranks=", "--json=")):
                continue
            passed.append(a)
        _driver(args, passed)


if __name__ == "__main__":
    main()
