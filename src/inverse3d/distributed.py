"""Data-parallel training and many-object jobs on `torch.distributed` (the engine's layer).

A job started by `torchrun --nproc-per-node N -m inverse3d ...` has N processes ("ranks"); torchrun
sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in each one. `init_from_env()`
joins them into one process group (NCCL on CUDA, gloo on the CPU) and is a no-op without those
variables, so a plain `inverse3d ...` run never sets anything distributed up: `rank()` is 0,
`world_size()` is 1 and every collective below returns its input.

- `all_reduce_gradients(params)`: the gradients averaged over the ranks, in flat buckets. A
  parameter whose `.grad` is None on some ranks (hash-grid rows no ray of that rank touched, a
  branch one rank did not take) counts as zeros there; one whose grad is None on every rank stays
  None, so the optimizer skips it exactly as one process would.
- `broadcast_state(objects)`: rank 0's `state_dict()` of modules / optimizers copied to every rank.
- `all_reduce_scalars`, `all_gather_json`, `barrier`, `shard(items)` (round-robin, deterministic).

Nothing here is pickled: `all_gather_json` sends JSON text as bytes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import torch

__all__ = [
    "ENV_KEYS",
    "all_gather_json",
    "all_reduce_gradients",
    "all_reduce_scalars",
    "barrier",
    "broadcast_state",
    "init_from_env",
    "is_initialized",
    "is_main",
    "local_batch",
    "local_rank",
    "rank",
    "rank_seed",
    "shard",
    "world_size",
]

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""The variables torchrun sets in every worker; `init_from_env` needs all of them."""

BUCKET_BYTES = 25 * 2**20
"""Gradients are all-reduced in flat buckets of at most this many bytes (one tensor may exceed it)."""

T = TypeVar("T")


def _dist():
    """`torch.distributed` when a process group is up, else None (never initialises anything)."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def is_initialized() -> bool:
    """True when this process belongs to an initialised process group."""
    return _dist() is not None


def rank() -> int:
    """This process's rank in the job (0 without a process group)."""
    dist = _dist()
    return dist.get_rank() if dist is not None else 0


def world_size() -> int:
    """Number of processes of the job (1 without a process group)."""
    dist = _dist()
    return dist.get_world_size() if dist is not None else 1


def is_main() -> bool:
    """True on rank 0, the one that writes run folders, reports and shows progress bars."""
    return rank() == 0


def local_rank() -> int:
    """Rank on this node (torchrun's LOCAL_RANK; 0 when unset): the CUDA device index to use."""
    value = os.environ.get("LOCAL_RANK", "0")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"LOCAL_RANK must be an integer; got {value!r}") from None


def _env_int(env: Mapping[str, str], key: str) -> int:
    try:
        return int(env[key])
    except ValueError:
        raise ValueError(f"{key} must be an integer; got {env[key]!r}") from None


def init_from_env(backend: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Join the process group torchrun described in the environment; return True if joined.

    backend: "nccl" or "gloo"; default nccl when CUDA is available, else gloo.
    env: the environment to read (default os.environ).
    Without RANK and WORLD_SIZE (a plain run) nothing happens and False is returned; with
    WORLD_SIZE 1 no group is made either. On CUDA the process's device is set to LOCAL_RANK.
    Raises ValueError naming the variable when one is missing or not an integer.
    """
    env = os.environ if env is None else env
    if "RANK" not in env and "WORLD_SIZE" not in env:
        return False
    missing = [k for k in ENV_KEYS if k not in env]
    if missing:
        raise ValueError(
            f"distributed launch: {', '.join(missing)} not set (launch with torchrun, which sets "
            f"{', '.join(ENV_KEYS)})"
        )
    n, r = _env_int(env, "WORLD_SIZE"), _env_int(env, "RANK")
    if n < 1 or not 0 <= r < n:
        raise ValueError(f"RANK must be in [0, WORLD_SIZE); got RANK={r}, WORLD_SIZE={n}")
    if n == 1 or is_initialized():
        return is_initialized()
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be 'nccl' or 'gloo'; got {backend!r}")
    import torch.distributed as dist

    if backend == "nccl":
        torch.cuda.set_device(_env_int(env, "LOCAL_RANK"))
    dist.init_process_group(backend=backend, rank=r, world_size=n)
    return True


def _device() -> torch.device:
    """The device collectives run on: this rank's CUDA device with NCCL, else the CPU."""
    dist = _dist()
    if dist is not None and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait until every rank gets here (nothing without a process group)."""
    dist = _dist()
    if dist is not None:
        dist.barrier()


def shard(items: Sequence[T], rank_: int | None = None, world: int | None = None) -> list[T]:
    """This rank's share of `items`, round-robin: items rank, rank + world, rank + 2 world, ...

    Deterministic (depends on the order of `items` only); over ranks 0 .. world-1 the shares
    cover every item exactly once. rank_ / world default to this process's rank and world size.
    """
    r = rank() if rank_ is None else rank_
    n = world_size() if world is None else world
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"world must be an int >= 1; got {n!r}")
    if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < n:
        raise ValueError(f"rank must be an int in [0, {n}); got {r!r}")
    return list(items)[r::n]


def local_batch(global_batch: int, name: str = "batch") -> int:
    """The per-rank share of a global batch: global_batch // world_size().

    Data-parallel steps give the same update as one process when every rank takes an equal share
    of the global batch (the mean of the ranks' means is then the global mean). Raises ValueError
    when the batch has fewer items than there are ranks.
    """
    if isinstance(global_batch, bool) or not isinstance(global_batch, int) or global_batch < 1:
        raise ValueError(f"{name} must be an int >= 1; got {global_batch!r}")
    n = world_size()
    if global_batch < n:
        raise ValueError(f"{name} ({global_batch}) must be at least the number of ranks ({n})")
    return global_batch // n


def rank_seed(seed: int, step: int = 0) -> int:
    """A seed for this rank's random sampling from the run's `seed` and the first `step`.

    Rank 0 of a one-process run gets `seed` back unchanged; other ranks and resumed data-parallel
    runs get a different, deterministic stream (so that ranks never draw the same rays).
    """
    r = rank()
    if r == 0 and step == 0:
        return int(seed)
    return int((int(seed) * 1_000_003 + 7919 * (r + 1) + 104_729 * step) % (2**63 - 1))


def all_reduce_scalars(values: Mapping[str, float]) -> dict[str, float]:
    """The mean over ranks of each scalar of `values`, as floats.

    values: {name: float or 0-d tensor}. Ranks may log different keys (a term one rank's batch
    did not have): every key of any rank is returned, averaged over the ranks that have it.
    """
    out = {k: float(v) for k, v in values.items()}
    dist = _dist()
    if dist is None or world_size() == 1:
        return out
    keys = sorted({k for part in all_gather_json(sorted(out)) for k in part})
    buf = torch.tensor(
        [[out.get(k, 0.0), float(k in out)] for k in keys], dtype=torch.float64, device=_device()
    ).reshape(-1, 2)  # (keys, [value, 1 if this rank has it])
    dist.all_reduce(buf)
    return {k: v / c for k, (v, c) in zip(keys, buf.cpu().tolist())}


def _unique(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    seen, out = set(), []
    for p in params:
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"params must hold tensors; got {type(p).__name__}")
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def all_reduce_gradients(params: Iterable[torch.Tensor], bucket_bytes: int = BUCKET_BYTES) -> None:
    """Replace each parameter's `.grad` by its mean over the ranks (in place, flat buckets).

    params: the same parameters in the same order on every rank (an optimizer's param groups).
    A grad that is None on some ranks counts as zeros there; None on every rank stays None.
    Sparse grads are made dense. Nothing happens without a process group.
    """
    dist = _dist()
    plist = _unique(params)
    if dist is None or world_size() == 1 or not plist:
        return
    n = world_size()
    dev = _device()
    has = torch.tensor([p.grad is not None for p in plist], dtype=torch.int32, device=dev)
    dist.all_reduce(has)  # how many ranks hold a grad of each parameter
    live = [p for p, k in zip(plist, has.tolist()) if k > 0]
    for p in live:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        elif p.grad.is_sparse:
            p.grad = p.grad.to_dense()
    groups: dict[tuple, list[torch.Tensor]] = {}
    for p in live:  # one bucket stream per (dtype, device), in parameter order
        groups.setdefault((p.grad.dtype, p.grad.device), []).append(p)
    for group in groups.values():
        bucket: list[torch.Tensor] = []
        size = 0
        for p in group:
            bucket.append(p)
            size += p.grad.numel() * p.grad.element_size()
            if size >= bucket_bytes:
                _reduce_bucket(dist, bucket, n, dev)
                bucket, size = [], 0
        if bucket:
            _reduce_bucket(dist, bucket, n, dev)


def _reduce_bucket(dist, bucket: list[torch.Tensor], n: int, dev: torch.device) -> None:
    flat = torch.cat([p.grad.reshape(-1) for p in bucket]).to(dev)
    dist.all_reduce(flat)
    flat /= n
    offset = 0
    for p in bucket:
        k = p.grad.numel()
        p.grad.copy_(flat[offset : offset + k].view_as(p.grad))
        offset += k


def broadcast_state(objects: Mapping[str, Any] | Sequence[Any]) -> None:
    """Copy rank 0's state to every rank: for each object with state_dict/load_state_dict
    (modules, optimizers, schedulers, a method's state holder), every tensor of its state_dict is
    broadcast from rank 0 and loaded back. Non-tensor values must already agree across ranks.
    Nothing happens without a process group."""
    dist = _dist()
    if dist is None or world_size() == 1:
        return
    objs = list(objects.values()) if isinstance(objects, Mapping) else list(objects)
    dev = _device()
    for obj in objs:
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise TypeError(
                f"objects must have state_dict and load_state_dict; got {type(obj).__name__}"
            )
        sd = obj.state_dict()
        _broadcast_tree(dist, sd, dev)
        obj.load_state_dict(sd)


def _broadcast_tree(dist, tree: Any, dev: torch.device) -> None:
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for key, v in list(items):
        if isinstance(v, torch.Tensor):
            t = v.detach().to(dev).clone()
            dist.broadcast(t, src=0)
            tree[key] = t.to(v.device)
        elif isinstance(v, dict) or isinstance(v, list):
            _broadcast_tree(dist, v, dev)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"all_gather_json: {type(value).__name__} is not JSON-serialisable")


def all_gather_json(obj: Any) -> list[Any]:
    """Every rank's `obj` (JSON-serialisable; tensors and NumPy values are sent as their
    `tolist()`), in rank order; [obj] (through JSON) without a process group.

    Sent as UTF-8 JSON bytes (never pickled)."""
    dist = _dist()
    text = json.dumps(obj, allow_nan=True, default=_plain)
    if dist is None or world_size() == 1:
        return [json.loads(text)]
    dev = _device()
    data = torch.tensor(list(text.encode("utf-8")), dtype=torch.uint8, device=dev)
    size = torch.tensor([data.numel()], dtype=torch.int64, device=dev)
    sizes = [torch.zeros_like(size) for _ in range(world_size())]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8, device=dev)
    padded[: data.numel()] = data
    parts = [torch.zeros_like(padded) for _ in range(world_size())]
    dist.all_gather(parts, padded)
    return [
        json.loads(bytes(p[: int(s.item())].cpu().tolist()).decode("utf-8"))
        for p, s in zip(parts, sizes)
    ]
