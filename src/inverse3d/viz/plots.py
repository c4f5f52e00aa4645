"""Figures of a run: loss curves and target / prediction / error image grids (matplotlib, Agg)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

__all__ = ["plot_mesh_and_points", "plot_loss", "plot_views", "to_uint8"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """image: (H, W) or (H, W, C) float in [0, 1] -> uint8 array of the same shape."""
    arr = image.detach().cpu().numpy() if torch.is_tensor(image) else np.asarray(image)
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def plot_loss(history: Sequence[Mapping[str, float]], path: str | os.PathLike) -> None:
    """Plot every scalar of `history` (one dict per step, "loss" first) against the step, log y."""
    plt = _pyplot()
    keys: list[str] = []
    for h in history:
        keys.extend(k for k in h if k not in keys)
    keys.sort(key=lambda k: (k != "loss", k))
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for k in keys:
        steps = [i for i, h in enumerate(history) if k in h]
        vals = np.array([history[i][k] for i in steps], dtype=np.float64)
        pos = vals > 0
        if pos.any():
            ax.plot(np.array(steps)[pos], vals[pos], label=k, lw=2.0 if k == "loss" else 1.0)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.set_title("training losses")
    if keys:
        ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_views(
    targets: torch.Tensor,
    preds: torch.Tensor,
    path: str | os.PathLike,
    max_views: int = 6,
) -> None:
    """Grid of held-out views: one column per view, rows target / prediction / |error|.

    targets, preds: (N, H, W, 3) float in [0, 1].
    """
    plt = _pyplot()
    n = min(int(targets.shape[0]), max_views)
    if n == 0:
        fig, ax = plt.subplots(figsize=(3, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no held-out views", ha="center", va="center")
        fig.savefig(path)
        plt.close(fig)
        return
    fig, axes = plt.subplots(3, n, figsize=(2.0 * n, 6.2), dpi=100, squeeze=False)
    for j in range(n):
        err = (preds[j] - targets[j]).abs().mean(-1)
        for i, (img, title) in enumerate(
            ((targets[j], "target"), (preds[j], "prediction"), (err, "|error|"))
        ):
            ax = axes[i, j]
            if img.dim() == 2:
                ax.imshow(img.detach().cpu().numpy(), cmap="magma", vmin=0.0, vmax=0.5)
            else:
                ax.imshow(to_uint8(img))
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_mesh_and_points(points, meshes, path: str | os.PathLike) -> None:
    """One 3D panel per (mesh, title) of `meshes`, each with the points (P, 3) drawn over it."""
    plt = _pyplot()
    fig = plt.figure(figsize=(4.5 * len(meshes), 4.5), dpi=100)
    p = points.detach().cpu().numpy()
    for k, (mesh, title) in enumerate(meshes):
        ax = fig.add_subplot(1, len(meshes), k + 1, projection="3d")
        v = mesh.verts_packed().detach().cpu().numpy()
        f = mesh.faces_packed().cpu().numpy()
        ax.plot_trisurf(v[:, 0], v[:, 2], f, v[:, 1], color=(0.6, 0.7, 0.9, 0.5), lw=0.1)
        ax.scatter(p[:, 0], p[:, 2], p[:, 1], s=2, c="k")
        ax.set_title(title)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
