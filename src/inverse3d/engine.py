"""The one optimisation loop shared by every method.

`run_loop` drives a user-supplied `step_fn(step) -> loss` for a number of steps with a tqdm progress
bar (loss and ETA), keeps the loss history, writes a checkpoint every `checkpoint_every` steps and at
exit, resumes from the last checkpoint, and stops on a non-finite loss naming the step and the last
good checkpoint (which it leaves untouched).

Checkpoints hold the `state_dict()` of every object in `state` (modules, optimizers, schedulers or
anything with state_dict/load_state_dict), the step, the loss history and the RNG states, written
atomically (temporary file then rename) so that a run killed mid-write keeps its previous checkpoint.
"""

from __future__ import annotations

import os
import random
import resource
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "Loop",
    "LoopResult",
    "NonFiniteLossError",
    "checkpoint_path",
    "load_checkpoint",
    "peak_memory_mb",
    "run_loop",
    "save_checkpoint",
    "seed_everything",
]

CHECKPOINT_NAME = "last.pt"


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; `step` and `checkpoint` (None if none was written) say where."""

    def __init__(
        self, step: int, value: float, checkpoint: Path | None, checkpoint_step: int | None
    ):
        self.step = step
        self.value = value
        self.checkpoint = checkpoint
        self.checkpoint_step = checkpoint_step
        kept = (
            f"last good checkpoint kept: {checkpoint} (step {checkpoint_step})"
            if checkpoint is not None
            else "no checkpoint was written before it"
        )
        super().__init__(f"loss became non-finite ({value}) at step {step}; {kept}")


@dataclass
class LoopResult:
    """What `run_loop` returns: the loss history (one dict per step) and timing."""

    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    time_s: float = 0.0
    resumed_from: int | None = None

    def series(self, key: str = "loss") -> list[float]:
        return [h[key] for h in self.history if key in h]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def peak_memory_mb(device: torch.device | str | None = None) -> float:
    """Peak memory of this process in MiB: CUDA allocator peak on a CUDA device, else max RSS."""
    dev = torch.device(device) if device is not None else None
    if dev is not None and dev.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated(dev) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def checkpoint_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / "checkpoints" / CHECKPOINT_NAME


def _rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    out_dir: str | os.PathLike,
    step: int,
    state: Mapping[str, Any],
    history: list[dict[str, float]],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write `out_dir/checkpoints/last.pt` atomically; return its path."""
    path = checkpoint_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "step": step,
        "state": {k: v.state_dict() for k, v in state.items()},
        "history": history,
        "rng": _rng_state(),
        "extra": dict(extra or {}),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(out_dir: str | os.PathLike, state: Mapping[str, Any]) -> dict[str, Any]:
    """Load `out_dir/checkpoints/last.pt` into the objects of `state`; return the payload."""
    path = checkpoint_path(out_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from: {path} does not exist")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    missing = set(state) - set(payload["state"])
    if missing:
        raise ValueError(f"checkpoint {path} lacks state for {sorted(missing)}")
    for key, obj in state.items():
        obj.load_state_dict(payload["state"][key])
    _set_rng_state(payload["rng"])
    return payload


def _scalar(v: Any) -> float:
    return float(v.detach()) if torch.is_tensor(v) else float(v)


def _as_scalars(out: Any) -> dict[str, float]:
    if isinstance(out, Mapping):
        if "loss" not in out:
            raise ValueError(
                f"step_fn must return a tensor or a dict with a 'loss' key; got keys {sorted(out)}"
            )
        return {k: _scalar(v) for k, v in out.items()}
    return {"loss": _scalar(out)}


def run_loop(
    step_fn: Callable[[int], Any],
    n_steps: int,
    out_dir: str | os.PathLike | None = None,
    state: Mapping[str, Any] | None = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    progress: bool = True,
    desc: str = "",
    on_checkpoint: Callable[[int], Mapping[str, Any]] | None = None,
) -> LoopResult:
    """Run `step_fn(step)` for steps `0 .. n_steps-1`.

    step_fn: does one optimisation step and returns the loss (tensor or float) or a dict of scalars
        with a "loss" key (other keys are logged too).
    out_dir: where `checkpoints/last.pt` goes; None disables checkpoints (and resume).
    state: objects with state_dict/load_state_dict saved in checkpoints (models, optimizers, ...).
    resume: continue from the checkpoint in out_dir when there is one.
    on_checkpoint: called with the step before each checkpoint; returns extra data to store.
    Raises NonFiniteLossError when the loss is NaN/inf, without touching the last checkpoint.
    """
    from tqdm.auto import tqdm

    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"n_steps must be an int >= 0; got {n_steps!r}")
    if (
        isinstance(checkpoint_every, bool)
        or not isinstance(checkpoint_every, int)
        or checkpoint_every < 1
    ):
        raise ValueError(f"checkpoint_every must be an int >= 1; got {checkpoint_every!r}")
    state = dict(state or {})
    result = LoopResult()
    start = 0
    last_ckpt: Path | None = None
    last_ckpt_step: int | None = None
    if resume and out_dir is not None and checkpoint_path(out_dir).is_file():
        payload = load_checkpoint(out_dir, state)
        start = int(payload["step"])
        result.history = list(payload["history"])
        result.resumed_from = start
        last_ckpt, last_ckpt_step = checkpoint_path(out_dir), start

    def checkpoint(step: int) -> None:
        nonlocal last_ckpt, last_ckpt_step
        if out_dir is None:
            return
        extra = on_checkpoint(step) if on_checkpoint is not None else None
        last_ckpt = save_checkpoint(out_dir, step, state, result.history, extra)
        last_ckpt_step = step

    t0 = time.perf_counter()
    bar = tqdm(
        total=n_steps,
        initial=start,
        desc=desc or None,
        disable=not progress,
        dynamic_ncols=True,
        leave=False,
    )
    step = start
    try:
        for step in range(start, n_steps):
            scalars = _as_scalars(step_fn(step))
            loss = scalars["loss"]
            if not np.isfinite(loss):
                raise NonFiniteLossError(step, loss, last_ckpt, last_ckpt_step)
            result.history.append(scalars)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            if (step + 1) % checkpoint_every == 0 and step + 1 < n_steps:
                checkpoint(step + 1)
        if n_steps > start:
            checkpoint(n_steps)
    finally:
        bar.close()
    result.steps = len(result.history)
    result.time_s = time.perf_counter() - t0
    return result


@dataclass
class Loop:
    """How a method's optimisation is run: `loop.run(step_fn, n_steps, state, desc)`.

    The pipeline makes one per run and hands it to the method's `fit`, so that every method gets
    the same progress bar, checkpoints (every `checkpoint_every` steps and at the end, in
    `out_dir/checkpoints/`), resume and non-finite stop. `Loop()` (no folder) runs without
    checkpoints, as tests and library users calling `fit` directly do.
    """

    out_dir: str | os.PathLike | None = None
    resume: bool = False
    progress: bool = True
    checkpoint_every: int = 100

    def run(
        self,
        step_fn: Callable[[int], Any],
        n_steps: int,
        state: Mapping[str, Any] | None = None,
        desc: str = "",
    ) -> LoopResult:
        """`run_loop` with this loop's folder, resume flag, progress bar and checkpoint period."""
        return run_loop(
            step_fn,
            n_steps,
            out_dir=self.out_dir,
            state=state,
            checkpoint_every=self.checkpoint_every,
            resume=self.resume,
            progress=self.progress,
            desc=desc,
        )
