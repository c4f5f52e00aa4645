"""The one optimisation loop shared by every method.

`run_loop` drives a user-supplied `step_fn(step) -> loss` for a number of steps with a tqdm progress
bar (loss and ETA), keeps the loss history, writes a checkpoint every `checkpoint_every` steps and at
exit, resumes from the last checkpoint, stops on a non-finite loss (or a `NonFiniteError` raised
inside the step) naming the step and the last good checkpoint (which it leaves untouched), and stops
a run whose loss has not gone below its starting level over a window of steps (`DivergedError`).

Checkpoints hold the `state_dict()` of every object in `state` (modules, optimizers, schedulers or
anything with state_dict/load_state_dict), the step, the loss history and the RNG states, all as
tensors and plain Python values, so that they load with `torch.load(..., weights_only=True)`: a
checkpoint cannot run code. They are written atomically (temporary file, fsync, rename) so that a
run killed mid-write keeps its previous checkpoint.
"""

from __future__ import annotations

import math
import os
import random
import resource
import sys
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from inverse3d import distributed
from inverse3d.common.errors import InputError, NonFiniteError

__all__ = [
    "CheckpointError",
    "DEFAULT_DIVERGENCE_WINDOW",
    "DivergedError",
    "Loop",
    "LoopResult",
    "NonFiniteLossError",
    "checkpoint_path",
    "data_parallel_hooks",
    "diverged",
    "exponential_lr_decay",
    "load_checkpoint",
    "peak_memory_mb",
    "run_loop",
    "save_checkpoint",
    "seed_everything",
]

CHECKPOINT_NAME = "last.pt"
CHECKPOINT_FORMAT = "inverse3d-checkpoint"
CHECKPOINT_VERSION = 2
DEFAULT_DIVERGENCE_WINDOW = 200
"""Default `divergence_window` of `run_loop` and `Loop` (see `diverged`)."""


class CheckpointError(InputError):
    """A checkpoint file that cannot be (safely) loaded: empty, truncated, corrupt, written in
    another format, holding Python objects other than tensors and plain values, or not matching
    the run's objects. The message names the file."""


def _kept(checkpoint: Path | None, checkpoint_step: int | None) -> str:
    if checkpoint is None:
        return "no checkpoint was written before it"
    return f"last good checkpoint kept: {checkpoint} (step {checkpoint_step})"


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite, or the step raised `NonFiniteError` (then `reason` holds its
    message and `value` is NaN); `step` and `checkpoint` (None if none was written) say where."""

    def __init__(
        self,
        step: int,
        value: float,
        checkpoint: Path | None,
        checkpoint_step: int | None,
        reason: str | None = None,
    ):
        self.step = step
        self.value = value
        self.checkpoint = checkpoint
        self.checkpoint_step = checkpoint_step
        self.reason = reason
        what = (
            f"non-finite values ({reason})"
            if reason is not None
            else f"loss became non-finite ({value})"
        )
        super().__init__(f"{what} at step {step}; {_kept(checkpoint, checkpoint_step)}")


class DivergedError(RuntimeError):
    """No loss of the last `window` steps went below the first step's loss (see `diverged`).

    step: the step at which the run stopped (the window is steps step-window+1 .. step).
    reference: the loss of step 0; best: the window's lowest loss.
    checkpoint, checkpoint_step: the last checkpoint written (None if none), left untouched; the
        message says when it was taken inside the window (its state produced the window's losses).
    """

    def __init__(
        self,
        step: int,
        window: int,
        checkpoint: Path | None,
        checkpoint_step: int | None,
        reference: float,
        best: float,
    ):
        self.step = step
        self.window = window
        self.checkpoint = checkpoint
        self.checkpoint_step = checkpoint_step
        self.reference = reference
        self.best = best
        if checkpoint_step is not None and checkpoint_step > step - window:
            kept = (
                f"last checkpoint kept: {checkpoint} (step {checkpoint_step}, inside the window:"
                " probably diverged too)"
            )
        else:
            kept = _kept(checkpoint, checkpoint_step)
        super().__init__(
            f"training diverged: no loss in the last {window} steps (steps {step - window + 1}"
            f"-{step}, lowest {best:.6g}) went below the loss of step 0 ({reference:.6g});"
            f" stopped at step {step} (is the learning rate too high?);"
            f" {kept}"
        )


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


def exponential_lr_decay(
    optimizer: torch.optim.Optimizer, final_ratio: float, steps: int
) -> torch.optim.lr_scheduler.ExponentialLR:
    """A scheduler that multiplies every group's rate by the same factor per step, so that after
    `steps` steps each is its start times `final_ratio` (0 < final_ratio <= 1; 0 means no decay,
    as the methods' `lr_final_ratio` settings define it). Call `.step()` after each optimizer
    step and put it in the loop's state so that a resumed run continues the decay."""
    gamma = final_ratio ** (1.0 / max(steps, 1)) if final_ratio > 0 else 1.0
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)


def peak_memory_mb(device: torch.device | str | None = None) -> float:
    """Peak memory of this process in MiB: CUDA allocator peak on a CUDA device, else max RSS."""
    dev = torch.device(device) if device is not None else None
    if dev is not None and dev.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated(dev) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def checkpoint_path(out_dir: str | os.PathLike) -> Path:
    """`out_dir/checkpoints/last.pt`, where `run_loop` keeps its checkpoint."""
    return Path(out_dir) / "checkpoints" / CHECKPOINT_NAME


def _tmp_path(path: Path) -> Path:
    return path.with_suffix(".tmp")


# ----------------------------------------------------------------------------- RNG states
def _rng_state() -> dict[str, Any]:
    """Every RNG state as tensors and plain Python values (loadable with weights_only=True)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),  # (int, tuple of ints, float | None)
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),  # (624,) uint32 values
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    npy = state["numpy"]
    keys = npy["keys"].numpy()
    if keys.min(initial=0) < 0 or keys.max(initial=0) >= 2**32:
        raise ValueError("numpy RNG keys out of the uint32 range")
    np.random.set_state(
        (
            npy["kind"],
            keys.astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- storable values
_LEAF_TYPES = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    torch.Tensor,
    torch.nn.Parameter,
    torch.dtype,
    torch.device,
    torch.Size,
)


def _check_storable(obj: Any, where: str) -> None:
    """Raise TypeError unless `obj` is made only of what `torch.load(weights_only=True)` reads:
    tensors, None, bool, int, float, complex, str, bytes, dtypes, devices, and dicts, lists,
    tuples and sets of those."""
    t = type(obj)
    if t in _LEAF_TYPES:
        return
    if t in (dict, OrderedDict):
        for k, v in obj.items():
            _check_storable(k, f"{where} key {k!r}")
            _check_storable(v, f"{where}[{k!r}]")
        return
    if t in (list, tuple, set):
        for i, v in enumerate(obj):
            _check_storable(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"cannot checkpoint {where}: a {t.__module__}.{t.__qualname__}; checkpoints hold only "
        "tensors, None, bool, int, float, str, bytes and dicts/lists/tuples of those"
    )


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable where the OS allows opening a directory."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(
    out_dir: str | os.PathLike,
    step: int,
    state: Mapping[str, Any],
    history: list[dict[str, float]],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write `out_dir/checkpoints/last.pt` atomically; return its path.

    The file holds `step`, every `state[k].state_dict()`, the loss `history`, the Python/NumPy/
    torch RNG states and `extra`, as tensors and plain Python values only (TypeError, naming the
    entry, for anything else). It is written to `last.tmp` (a stale one from a killed run is
    removed first), flushed to disk with fsync, renamed over `last.pt`, and the folder is fsynced.
    """
    path = checkpoint_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "step": int(step),
        "state": {k: v.state_dict() for k, v in state.items()},
        "history": [dict(h) for h in history],
        "rng": _rng_state(),
        "extra": dict(extra or {}),
    }
    for key in ("state", "history", "extra"):
        _check_storable(payload[key], key)
    tmp = _tmp_path(path)
    tmp.unlink(missing_ok=True)
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _check_archive(path: Path) -> None:
    """Raise CheckpointError unless `path` is a complete zip archive whose members all match
    their CRC-32 (torch.load itself does not check them, so a flipped bit would load silently)."""
    if path.stat().st_size == 0:
        raise CheckpointError(f"cannot load checkpoint {path}: the file is empty")
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        raise CheckpointError(
            f"cannot load checkpoint {path}: not a complete checkpoint archive (truncated or "
            f"corrupt: {' '.join(str(e).split())[:200]})"
        ) from e
    if bad is not None:
        raise CheckpointError(
            f"cannot load checkpoint {path}: corrupt (checksum mismatch in its member {bad!r})"
        )


def _read_error(path: Path, e: BaseException) -> CheckpointError:
    """One-line CheckpointError naming `path` for an exception raised by torch.load."""
    text = " ".join(str(e).split())
    if "global" in text.lower() or "allowlisted" in text.lower():  # weights_only refusals
        reason = (
            "it holds Python objects other than tensors and plain values (refused without "
            "running them; a file from an older version or not written by inverse3d)"
        )
    else:
        reason = f"corrupt ({type(e).__name__}: {text[:200]})"
    return CheckpointError(f"cannot load checkpoint {path}: {reason}")


def _check_payload(payload: Any, path: Path) -> None:
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"cannot load checkpoint {path}: {what}")

    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise bad("not an inverse3d checkpoint (no format marker)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise bad(f"format version {payload.get('version')!r}; this version reads 2")
    step, hist = payload.get("step"), payload.get("history")
    if type(step) is not int or step < 0:
        raise bad(f"step must be an int >= 0; got {step!r}")
    if not isinstance(hist, list):
        raise bad("history must be a list")
    for i, h in enumerate(hist):
        if not isinstance(h, dict) or not all(
            isinstance(k, str) and type(v) in (float, int) for k, v in h.items()
        ):
            raise bad(f"history[{i}] must be a dict of str to float")
    for key in ("state", "rng", "extra"):
        if not isinstance(payload.get(key), dict):
            raise bad(f"{key!r} must be a dict")


def load_checkpoint(out_dir: str | os.PathLike, state: Mapping[str, Any]) -> dict[str, Any]:
    """Load `out_dir/checkpoints/last.pt` into the objects of `state`; return the payload.

    The file must be a zip archive whose members match their CRC-32 (checked first), and is read
    with `torch.load(..., weights_only=True)`, so a planted file cannot run code.
    Raises FileNotFoundError when there is no checkpoint, and CheckpointError (an InputError)
    naming the file when it is empty, truncated, corrupt, holds anything but tensors and plain
    values, lacks state for a key of `state` or does not fit its object. The payload is a dict with
    "step", "state", "history", "rng" and "extra".
    """
    path = checkpoint_path(out_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from: {path} does not exist")
    _check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise _read_error(path, e) from e
    _check_payload(payload, path)
    missing = set(state) - set(payload["state"])
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks state for {sorted(missing)}")
    for key, obj in state.items():
        try:
            obj.load_state_dict(payload["state"][key])
        except Exception as e:
            first = " ".join(str(e).split())[:300] or type(e).__name__
            raise CheckpointError(
                f"checkpoint {path}: state {key!r} does not fit this run: {first}"
            ) from e
    try:
        _set_rng_state(payload["rng"])
    except Exception as e:
        raise CheckpointError(
            f"cannot load checkpoint {path}: bad RNG state ({type(e).__name__}: {e})"
        ) from e
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


def _check_window(window: Any) -> int | None:
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"divergence_window must be an int >= 2 or None; got {window!r}")
    return window


def diverged(losses: list[float], window: int) -> tuple[float, float] | None:
    """The divergence rule of `run_loop`, applied after the last entry of `losses`.

    losses: the loss of every step so far, step 0 first. With t = len(losses) - 1 >= window, the
    run has diverged when none of the last `window` losses (steps t-window+1 .. t) is below the
    loss of step 0, and they are not all exactly 0 (a perfect fit). Step 0's loss is the only one
    computed before any update: a far too large step size ruins the model at the first update, so
    later steps cannot serve as the reference. Any single step below it counts as progress.
    Returns (loss of step 0, lowest loss of the window) when diverged, else None.
    """
    if len(losses) <= window:
        return None
    reference = losses[0]
    lowest = min(losses[-window:])
    if lowest < reference or lowest == 0:
        return None
    return reference, lowest


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
    divergence_window: int | None = DEFAULT_DIVERGENCE_WINDOW,
    data_parallel: bool = True,
) -> LoopResult:
    """Run `step_fn(step)` for steps `0 .. n_steps-1`.

    step_fn: does one optimisation step and returns the loss (tensor or float) or a dict of scalars
        with a "loss" key (other keys are logged too).
    out_dir: where `checkpoints/last.pt` goes; None disables checkpoints (and resume).
    state: objects with state_dict/load_state_dict saved in checkpoints (models, optimizers, ...).
    resume: continue from the checkpoint in out_dir when there is one (a stale `last.tmp` left by
        a killed run is removed).
    on_checkpoint: called with the step before each checkpoint; returns extra data to store.
    divergence_window: stop with DivergedError once no loss of the last `divergence_window` steps
        is below the loss of step 0 (see `diverged`; checked from step `divergence_window` on, so
        runs of at most that many steps are never stopped); None disables the check.
    data_parallel: in a job of several processes (`distributed.world_size() > 1`), whether the
        ranks train one model together (see `data_parallel_hooks`: rank 0's state broadcast,
        per-rank random streams, gradients averaged before every optimizer step, the logged
        scalars averaged, checkpoints written by rank 0 only) or each its own (then each rank
        checkpoints into its own `out_dir`). Only rank 0 shows a progress bar. Without a
        process group this changes nothing.
    Raises NonFiniteLossError when the loss is NaN/inf or step_fn raises NonFiniteError, and
    DivergedError, both without touching the last checkpoint; CheckpointError for a checkpoint
    that cannot be resumed from.
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
    window = _check_window(divergence_window)
    state = dict(state or {})
    together = data_parallel and distributed.world_size() > 1
    writes = distributed.is_main() or not together
    result = LoopResult()
    start = 0
    last_ckpt: Path | None = None
    last_ckpt_step: int | None = None
    if resume and out_dir is not None:
        _tmp_path(checkpoint_path(out_dir)).unlink(missing_ok=True)
        if checkpoint_path(out_dir).is_file():
            payload = load_checkpoint(out_dir, state)
            start = int(payload["step"])
            if len(payload["history"]) != start or any("loss" not in h for h in payload["history"]):
                raise CheckpointError(
                    f"cannot resume from {checkpoint_path(out_dir)}: its history does not hold "
                    f"one loss per step for its {start} steps"
                )
            result.history = list(payload["history"])
            result.resumed_from = start
            last_ckpt, last_ckpt_step = checkpoint_path(out_dir), start
    losses = result.series()
    unhook = data_parallel_hooks(state, start) if together else None

    def checkpoint(step: int) -> None:
        nonlocal last_ckpt, last_ckpt_step
        if out_dir is None:
            return
        extra = on_checkpoint(step) if on_checkpoint is not None else None
        if writes:
            save_checkpoint(out_dir, step, state, result.history, extra)
        last_ckpt, last_ckpt_step = checkpoint_path(out_dir), step

    t0 = time.perf_counter()
    bar = tqdm(
        total=n_steps,
        initial=start,
        desc=desc or None,
        disable=not progress or not distributed.is_main(),
        dynamic_ncols=True,
        leave=False,
    )
    step = start
    try:
        for step in range(start, n_steps):
            try:
                out = step_fn(step)
            except NonFiniteError as e:
                raise NonFiniteLossError(
                    step, math.nan, last_ckpt, last_ckpt_step, reason=str(e)
                ) from e
            scalars = _as_scalars(out)
            if together:  # the global batch's loss: every rank takes the same stop decisions
                scalars = distributed.all_reduce_scalars(scalars)
            loss = scalars["loss"]
            if not np.isfinite(loss):
                raise NonFiniteLossError(step, loss, last_ckpt, last_ckpt_step)
            result.history.append(scalars)
            losses.append(loss)
            if window is not None:
                hit = diverged(losses, window)
                if hit is not None:
                    raise DivergedError(step, window, last_ckpt, last_ckpt_step, *hit)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            if (step + 1) % checkpoint_every == 0 and step + 1 < n_steps:
                checkpoint(step + 1)
        if n_steps > start:
            checkpoint(n_steps)
    finally:
        bar.close()
        if unhook is not None:
            unhook()
    result.steps = len(result.history)
    result.time_s = time.perf_counter() - t0
    return result


def data_parallel_hooks(state: Mapping[str, Any], start: int = 0) -> Callable[[], None]:
    """Make the ranks of a process group train one model: return the function that undoes it.

    1. rank 0's state (every object of `state`: modules, optimizers, ...) is copied to all ranks;
    2. each rank reseeds its random streams with `distributed.rank_seed(torch.initial_seed(),
       start)`, so that ranks draw different rays / points (deterministically);
    3. until undone, every `torch.optim.Optimizer.step` of this process first replaces the
       gradients of its parameters by their mean over the ranks
       (`distributed.all_reduce_gradients`, flat buckets; grads missing on some ranks count as
       zeros). This is the one hook between backward and step for every method: methods keep
       calling `opt.step()` and need no change.
    Every rank must step the same optimizers in the same order. Gradient clipping done before
    `step()` sees the rank's own gradients (not the mean).
    """
    distributed.broadcast_state(state)
    seed_everything(distributed.rank_seed(torch.initial_seed(), start))

    def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        distributed.all_reduce_gradients(
            [p for group in optimizer.param_groups for p in group["params"]]
        )

    handle = register_optimizer_step_pre_hook(hook)
    return handle.remove


@dataclass
class Loop:
    """How a method's optimisation is run: `loop.run(step_fn, n_steps, state, desc)`.

    The pipeline makes one per run and hands it to the method's `fit`, so that every method gets
    the same progress bar, checkpoints (every `checkpoint_every` steps and at the end, in
    `out_dir/checkpoints/`), resume, non-finite stop and divergence stop (`divergence_window`).
    `Loop()` (no folder) runs without checkpoints, as tests and library users calling `fit`
    directly do. Under torchrun (`distributed.world_size() > 1`) the ranks train one model
    together (`data_parallel=True`, see `run_loop`) or each its own (`data_parallel=False`, as the
    shards of a many-object job do).
    """

    out_dir: str | os.PathLike | None = None
    resume: bool = False
    progress: bool = True
    checkpoint_every: int = 100
    divergence_window: int | None = DEFAULT_DIVERGENCE_WINDOW
    data_parallel: bool = True

    def run(
        self,
        step_fn: Callable[[int], Any],
        n_steps: int,
        state: Mapping[str, Any] | None = None,
        desc: str = "",
    ) -> LoopResult:
        """`run_loop` with this loop's folder, resume flag, progress bar, checkpoint period and
        divergence window."""
        return run_loop(
            step_fn,
            n_steps,
            out_dir=self.out_dir,
            state=state,
            checkpoint_every=self.checkpoint_every,
            resume=self.resume,
            progress=self.progress,
            desc=desc,
            divergence_window=self.divergence_window,
            data_parallel=self.data_parallel,
        )
