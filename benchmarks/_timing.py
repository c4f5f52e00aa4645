"""Timing helpers shared by the benchmark scripts.

The scripts import this as `_timing`: they run as ``python benchmarks/bm_*.py``, which puts this
folder first on sys.path. torch is imported only when a CUDA device is timed, so that the parent
process of bm_rasterize_cpu stays light."""

from __future__ import annotations

import resource
import statistics
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch


def median_time(
    fn: Callable[[], object],
    repeat: int,
    device: torch.device | None = None,
    warmup: bool = True,
) -> float:
    """Median wall time in seconds of ``repeat`` calls of ``fn``, after one untimed warm-up call
    when ``warmup``; on a CUDA ``device`` each call is bracketed by synchronisations."""
    sync = None
    if device is not None and device.type == "cuda":
        import torch

        sync = torch.cuda.synchronize
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
