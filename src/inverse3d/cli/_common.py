"""What the verbs share: reading the user's files (errors name the file) and run folders."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from inverse3d.common.errors import InputError

__all__ = [
    "add_device_flag",
    "add_run_folder_flags",
    "load_mesh_file",
    "load_points_file",
    "read_image_file",
    "verb_device",
    "verb_run_folder",
]


def _load(path_str: str, what: str, load: Callable[[Any, Path], Any]):
    path = Path(path_str)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a {what} file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} file")
    from inverse3d.io.pluggable import IO

    try:
        # strict: NaN/inf/overflowing coordinates are refused with their line (docs/reliability.md)
        return load(IO(strict=True), path)
    except InputError:
        raise
    except (ValueError, OSError) as e:
        msg = str(e)
        raise InputError(msg if str(path) in msg else f"{path}: {msg}") from e


def load_mesh_file(path_str: str, include_textures: bool = False, need_faces: bool = True):
    """Meshes (batch of 1) of an OBJ/PLY/OFF file; InputError naming the file if it has no
    faces (with need_faces) or non-finite vertices."""
    mesh = _load(path_str, "mesh", lambda io, p: io.load_mesh(p, include_textures=include_textures))
    if need_faces and mesh.faces_packed().shape[0] == 0:
        raise InputError(f"{path_str}: mesh has no faces")
    if not bool(torch.isfinite(mesh.verts_packed()).all()):
        raise InputError(f"{path_str}: mesh has NaN or infinite vertex coordinates")
    return mesh


def load_points_file(path_str: str) -> torch.Tensor:
    """(P, 3) points of a PLY/OBJ/OFF file: a point cloud's points, or a mesh's vertices."""
    path = Path(path_str)
    suffix = path.suffix.lower()
    if suffix in (".obj", ".off"):
        pts = load_mesh_file(path_str, need_faces=False).verts_packed()
    else:
        pts = _load(path_str, "point", lambda io, p: io.load_pointcloud(p)).points_packed()
    if pts.shape[0] == 0:
        raise InputError(f"{path}: no points")
    if not bool(torch.isfinite(pts).all()):
        raise InputError(f"{path}: points contain NaN or inf")
    return pts


def read_image_file(path_str: str) -> torch.Tensor:
    """(H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA float image in [0, 1], read by the library's
    one image reader (io.image_io: errors name the file, pixel limit, 16-bit files scaled)."""
    from inverse3d.io.image_io import read_image

    img = read_image(Path(path_str))
    if img.shape[-1] == 1:
        return img[..., 0]
    if img.shape[-1] == 2:  # grey + alpha -> RGBA
        return torch.cat([img[..., :1].expand(*img.shape[:2], 3), img[..., 1:]], -1)
    return img


def add_run_folder_flags(p: argparse.ArgumentParser, default_name: str) -> None:
    p.add_argument("--out", default="runs", help="parent folder of the run folder (default runs)")
    p.add_argument("--name", default=None, help=f"run folder name (default {default_name})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")


def verb_run_folder(args: argparse.Namespace, default_name: str) -> Path:
    """The verb's run folder `--out/--name` (created; see pipeline.run_folder)."""
    from inverse3d.pipeline.run_folder import prepare_run_folder

    folder = prepare_run_folder(
        args.out, args.name or default_name, overwrite=args.overwrite, resume=False
    )
    args.context.folder = folder
    return folder


def add_device_flag(p: argparse.ArgumentParser) -> None:
    """--device, as every verb spells it: default None, i.e. cuda when available (as reconstruct)."""
    p.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)"
    )


def verb_device(args: argparse.Namespace) -> str:
    """The verb's device: --device checked (InputError if unknown or CUDA is absent), or cuda
    when available."""
    from inverse3d.pipeline.reconstruct import resolve_device

    return resolve_device(args.device)
