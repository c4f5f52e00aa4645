"""Slice plot of a signed distance field beside the ground truth (matplotlib, Agg)."""

from __future__ import annotations

import os

import numpy as np
import torch

from inverse3d._validation import check_tensor

__all__ = ["plot_sdf_slice"]


def plot_sdf_slice(
    pred: torch.Tensor,
    gt: torch.Tensor,
    extent: float,
    path: str | os.PathLike,
    title: str = "",
    axes: str = "xy",
) -> None:
    """Write a PNG with two panels: the fitted SDF and the ground truth on one plane.

    Args:
        pred, gt: (H, W) float SDF values on a regular grid of the plane, row i at the i-th
            value of the vertical axis (bottom to top), column j at the j-th of the horizontal.
        extent: the grid covers [-extent, extent] on both axes.
        path: output PNG file.
        axes: names of the horizontal and vertical axes (for the labels).

    Both panels share a diverging colour map symmetric about 0 (blue inside, red outside),
    clipped at the largest |gt|, with the zero contour drawn in black.
    """
    check_tensor(pred, "pred", ("H", "W"), "float")
    check_tensor(gt, "gt", tuple(pred.shape), "float")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    g = gt.detach().cpu().numpy()
    p = pred.detach().cpu().numpy()
    vmax = float(np.abs(g).max()) or 1.0
    fig, axs = plt.subplots(1, 2, figsize=(8.4, 4.0), constrained_layout=True)
    ext = (-extent, extent, -extent, extent)
    for ax, arr, name in ((axs[0], p, "fitted"), (axs[1], g, "ground truth")):
        im = ax.imshow(arr, origin="lower", extent=ext, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        if arr.min() < 0 < arr.max():
            xs = np.linspace(-extent, extent, arr.shape[1])
            ys = np.linspace(-extent, extent, arr.shape[0])
            ax.contour(xs, ys, arr, levels=[0.0], colors="k", linewidths=1.0)
        ax.set_title(name)
        ax.set_xlabel(axes[0])
        ax.set_ylabel(axes[1])
    fig.colorbar(im, ax=axs, shrink=0.8, label="signed distance (unit cube)")
    if title:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), dpi=80)
    plt.close(fig)
