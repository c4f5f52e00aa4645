"""Figures and renders of a run: loss curves, view grids, turntables."""

from inverse3d.viz.plots import plot_loss, plot_views, to_uint8
from inverse3d.viz.turntable import (
    render_mesh_views,
    render_turntable,
    save_gif,
    turntable_cameras,
)

__all__ = [
    "plot_loss",
    "plot_views",
    "render_mesh_views",
    "render_turntable",
    "save_gif",
    "to_uint8",
    "turntable_cameras",
]
