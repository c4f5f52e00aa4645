"""Peak memory (and time per step) of the "diffeomorphic" method for T = 10 / 20 / 40 flow steps.

    OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/bm_diffeomorphic.py \
        [--device cpu|cuda] [--image-size 256] [--steps 3] [--flow-steps 10,20,40] \
        [--no-checkpoint] [--sphere-level 4] [--views-per-step 4]

Each configuration runs in its own subprocess (a fresh process, so the peak is its own): a few
optimisation steps of the method on the built-in scene rendered at --image-size. It prints one
JSON line per T: peak memory in MiB (CUDA: torch.cuda.max_memory_allocated; CPU: the process's
max RSS, which includes the Python interpreter, torch and the scene, about 400-500 MiB, so
compare the differences between T), and the mean wall time per step after the first.
GPU command (the acceptance check: T = 20 at 256 x 256 under 4 GiB):

    PYTHONPATH=src python benchmarks/bm_diffeomorphic.py --device cuda --image-size 256
    PYTHONPATH=src python benchmarks/bm_diffeomorphic.py --device cuda --image-size 256 \
        --no-checkpoint   # the same without per-step checkpointing, for comparison
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def child(args: argparse.Namespace) -> None:
    import time

    import torch

    from inverse3d.datasets.synthetic import make_synthetic_scene
    from inverse3d.engine import Loop, peak_memory_mb
    from inverse3d.methods.diffeomorphic import DiffeomorphicConfig, fit

    torch.manual_seed(0)
    dev = torch.device(args.device)
    scene = make_synthetic_scene(n_views=8, n_test=0, image_size=args.image_size).to(dev)
    times: list[float] = []
    cfg = DiffeomorphicConfig(
        steps=args.steps,
        flow_steps=args.T,
        checkpoint=not args.no_checkpoint,
        image_size=args.image_size,
        sphere_level=args.sphere_level,
        views_per_step=args.views_per_step,
    )
    loop = Loop(progress=False)
    run = loop.run

    def timed_run(step_fn, n, state=None, desc=""):
        def wrapped(step):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = step_fn(step)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            return out

        return run(wrapped, n, state, desc)

    loop.run = timed_run  # type: ignore[method-assign]
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    fit(cfg, scene, loop)
    per_step = sum(times[1:]) / max(1, len(times) - 1)
    print(
        json.dumps(
            {
                "T": args.T,
                "checkpoint": not args.no_checkpoint,
                "device": args.device,
                "image_size": args.image_size,
                "sphere_level": args.sphere_level,
                "views_per_step": args.views_per_step,
                "peak_memory_mb": round(peak_memory_mb(dev), 1),
                "s_per_step": round(per_step, 4),
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--flow-steps", default="10,20,40")
    p.add_argument("--sphere-level", type=int, default=4)
    p.add_argument("--views-per-step", type=int, default=4)
    p.add_argument("--no-checkpoint", action="store_true")
    p.add_argument("--T", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.T is not None:
        child(args)
        return
    for T in (int(t) for t in args.flow_steps.split(",")):
        cmd = [sys.executable, __file__, *sys.argv[1:], "--T", str(T)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if out.returncode != 0:
            print(json.dumps({"T": T, "error": out.stderr.strip().splitlines()[-1:]}))
        else:
            print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
