"""What every run writes besides its own results: mesh files, versions, report.json/html."""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inverse3d.io.obj_io import save_obj
from inverse3d.io.ply_io import save_ply
from inverse3d.pipeline.run_folder import write_json

__all__ = ["json_safe", "mesh_colors", "save_mesh_files", "versions", "write_report_json"]


def versions() -> dict[str, str]:
    """Versions of Python, torch, numpy and inverse3d, and the platform."""
    import inverse3d

    return {
        "inverse3d": getattr(inverse3d, "__version__", "unknown"),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def mesh_colors(mesh: Any) -> torch.Tensor | None:
    """(V, 3) vertex colours of a Meshes with TexturesVertex, else None."""
    tex = mesh.textures if mesh is not None else None
    if tex is not None and hasattr(tex, "verts_features_packed"):
        return tex.verts_features_packed()[:, :3]
    return None


def save_mesh_files(
    folder: Path,
    mesh: Any,
    to_frame: Callable[[torch.Tensor], torch.Tensor] | None = None,
    stem: str = "mesh",
) -> list[Path]:
    """Write `stem`.obj (vertex colours as "v x y z r g b") and `stem`.ply (colour properties).

    mesh: Meshes (batch of 1), TexturesVertex colours if any; to_frame maps its (V, 3) vertices
    to the frame the files are written in (e.g. the data's own frame). Returns the paths.
    """
    mesh = mesh.detach().cpu()
    verts = mesh.verts_packed()
    if to_frame is not None:
        verts = to_frame(verts).detach().cpu()
    faces = mesh.faces_packed()
    colors = mesh_colors(mesh)
    obj, ply = folder / f"{stem}.obj", folder / f"{stem}.ply"
    save_obj(obj, verts.float(), faces, verts_colors=colors)
    save_ply(ply, verts.float(), faces, colors=None if colors is None else colors.clamp(0, 1))
    return [obj, ply]


def json_safe(value: Any) -> Any:
    """`value` with non-finite floats as None and tensors/numpy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if torch.is_tensor(value) and value.numel() == 1:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report_json(folder: Path, report: Mapping[str, Any]) -> Path:
    """Write folder/report.json (non-finite numbers as null)."""
    path = folder / "report.json"
    write_json(path, json_safe(report))
    return path
