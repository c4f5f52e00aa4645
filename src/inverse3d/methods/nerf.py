"""Method "nerf": a NeRF with a hash-grid encoding and occupancy-grid skipping (placeholder)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NerfConfig", "run"]


@dataclass
class NerfConfig:
    """Settings of the "nerf" method."""

    steps: int = 2000
    """optimisation steps"""


def run(config: NerfConfig, data, out_dir, resume: bool = False, progress: bool = True):
    raise ValueError("method 'nerf' is not available yet")
