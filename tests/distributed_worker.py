"""Worker of tests/test_distributed.py, run as one process of a 2-rank gloo job.

    python tests/distributed_worker.py step OUT_DIR [SCENE]   (env RANK, WORLD_SIZE, MASTER_* set)
    torchrun ... tests/distributed_worker.py fit-sdf SHIFT -- <inverse3d fit-sdf args>

"step": a data-parallel run of `engine.Loop` on a fixed global batch split between the ranks
(see `build` / `run_steps`, shared with the one-process reference of the test), checkpointed
in OUT_DIR (by rank 0); rank 0 also saves the parameters and the loss history to OUT_DIR/dp.pt.
With SCENE, then `inverse3d reconstruct --method volume` of that scene for 2 steps into
OUT_DIR/runs/vol (the same process group).
"fit-sdf": `inverse3d fit-sdf` where the fit raises RuntimeError for the mesh whose mean x
coordinate is SHIFT (to within 0.5).
"""

from __future__ import annotations

import sys

import torch

from inverse3d import distributed
from inverse3d.engine import Loop
from inverse3d.models.hash_grid import HashGridEncoding

N_POINTS = 64
STEPS = 3


class Model(torch.nn.Module):
    """A hash grid with two heads; head "b" is used only by the first half of the batch, so on
    rank 1 of 2 its grad is None (the case of hash-grid rows / branches some ranks never use)."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = HashGridEncoding(
            n_levels=3, log2_hashmap_size=6, base_resolution=2, finest_resolution=8
        )
        d = self.enc.n_levels * self.enc.n_features_per_level
        self.a = torch.nn.Linear(d, 1)
        self.b = torch.nn.Linear(d, 1)

    def forward(self, x: torch.Tensor, kind: torch.Tensor) -> torch.Tensor:
        f = self.enc(x)
        out = self.a(f)[:, 0]
        if bool(kind.any()):
            out = out + kind * self.b(f)[:, 0]
        return out


class Optimizers:
    """Two optimizers stepped one after the other (each step goes through the Loop's hook)."""

    def __init__(self, *opts: torch.optim.Optimizer) -> None:
        self.opts = opts

    def zero_grad(self) -> None:
        for o in self.opts:
            o.zero_grad()

    def step(self) -> None:
        for o in self.opts:
            o.step()

    def state_dict(self) -> dict:
        return {str(i): o.state_dict() for i, o in enumerate(self.opts)}

    def load_state_dict(self, sd: dict) -> None:
        for i, o in enumerate(self.opts):
            o.load_state_dict(sd[str(i)])


def build(seed: int):
    """(model, optimizer) in float64, initialised from `seed`; the global batch (P, 3), (P,),
    (P,) from a fixed generator."""
    torch.manual_seed(seed)
    model = Model().double()
    with torch.no_grad():  # larger table values than the default 1e-4 init
        model.enc.embeddings.normal_(0.0, 0.1)
    # Adam is nearly blind to a gradient's scale, SGD is not: head b's SGD step tells a grad
    # counted as zero on rank 1 (the mean over 2 ranks) from one ignored there.
    adam = torch.optim.Adam([*model.enc.parameters(), *model.a.parameters()], lr=1e-2)
    opt = Optimizers(adam, torch.optim.SGD(model.b.parameters(), lr=0.5))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(N_POINTS, 3, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.rand(N_POINTS, generator=g, dtype=torch.float64)
    kind = (torch.arange(N_POINTS) < N_POINTS // 4).double()
    return model, opt, (x, y, kind)


def run_steps(model, opt, batch, rank: int, world: int, steps: int = STEPS, out_dir=None):
    """`steps` steps through `Loop` (checkpoints / resume in `out_dir` when given), each rank on
    its contiguous 1/world of the global batch."""
    x, y, kind = batch
    n = N_POINTS // world
    sl = slice(rank * n, (rank + 1) * n)

    def step_fn(step: int):
        opt.zero_grad()
        loss = ((model(x[sl], kind[sl]) - y[sl]) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    loop = Loop(out_dir=out_dir, resume=out_dir is not None, progress=False)
    return loop.run(step_fn, steps, {"model": model, "optimizer": opt})


def main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "step":
        distributed.init_from_env()
        r, n = distributed.rank(), distributed.world_size()
        model, opt, batch = build(seed=100 + r)  # ranks differ until rank 0's state is broadcast
        result = run_steps(model, opt, batch, r, n, out_dir=argv[1])
        # ranks logging different keys (a loss term only rank 1's batch has)
        logged = distributed.all_reduce_scalars({"loss": float(r), **({"depth": 4.0} if r else {})})
        if distributed.is_main():
            out = {"state": model.state_dict(), "loss": result.series(), "logged": logged}
            torch.save(out, f"{argv[1]}/dp.pt")
        if len(argv) > 2:
            from inverse3d.cli import main as cli_main

            return cli_main(
                ["reconstruct", "--data", argv[2], "--method", "volume", "--steps", "2"]
                + ["--rays-per-step", "64", "--pts-per-ray", "16", "--eval-samples", "300"]
                + ["--device", "cpu", "--quiet", "--out", f"{argv[1]}/runs", "--name", "vol"]
            )
        return 0
    if mode == "fit-sdf":
        shift = float(argv[1])
        import inverse3d.pipeline.fit_sdf as pipe
        from inverse3d.cli import main as cli_main

        fit = pipe.fit

        def failing_fit(config, mesh, loop):
            if abs(float(mesh[0][:, 0].mean()) - shift) < 0.5:
                raise RuntimeError("injected failure")
            return fit(config, mesh, loop)

        pipe.fit = failing_fit
        return cli_main(["fit-sdf", *argv[3:]])
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
