"""PLY meshes and point clouds: `load_ply`, `save_ply` and the PLY interpreters used by `IO`.

Reads ASCII and binary (little / big endian) files with any scalar types, list properties with any
count and index types, vertex colours (integer types are scaled to [0, 1]: uchar / 255, ushort /
65535), normals (nx, ny, nz), uvs (u v, s t, texture_u texture_v, texture_s texture_t), polygon
faces of any size (fan-triangulated) and point clouds without faces. Unknown elements and
properties are skipped. Malformed files raise a `ValueError` naming the file, the line (ASCII) or
byte offset (binary) and the reason.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, NamedTuple

import numpy as np
import torch

from inverse3d.io._ply_parse import PlyHeader, read_ply
from inverse3d.io.pluggable_formats import (
    MeshFormatInterpreter,
    PointcloudFormatInterpreter,
    endswith,
)
from inverse3d.io.utils import (
    ParseError,
    check_finite_rows,
    fan_triangulate,
    open_for_write,
    read_bytes,
)

__all__ = ["load_ply", "save_ply", "MeshPlyFormat", "PointcloudPlyFormat"]

_UV_NAMES = (("u", "v"), ("s", "t"), ("texture_u", "texture_v"), ("texture_s", "texture_t"))


class _PlyData(NamedTuple):
    header: PlyHeader
    verts: torch.Tensor  # (V, 3) float32
    faces: torch.Tensor | None  # (F, 3) int64
    verts_colors: torch.Tensor | None  # (V, 3) float32 in [0, 1] for integer types
    verts_normals: torch.Tensor | None  # (V, 3) float32
    verts_uvs: torch.Tensor | None  # (V, 2) float32


def _column(data: dict, key: str) -> np.ndarray | None:
    v = data.get(key)
    return v if isinstance(v, np.ndarray) else None


def _stack(data: dict, keys) -> np.ndarray | None:
    cols = [_column(data, k) for k in keys]
    if any(c is None for c in cols):
        return None
    return np.stack(cols, axis=1)


def _load_ply(f: Any, *, path_manager: Any = None, strict: bool = False) -> _PlyData:
    raw, name = read_bytes(f, path_manager)
    with np.errstate(over="ignore", invalid="ignore"):  # float32 overflow is inf, as PyTorch3D
        return _ply_data(read_ply(raw, name), name, strict)


def _ply_data(header: PlyHeader, name: str, strict: bool) -> _PlyData:
    elements = {el.name: el for el in header.elements}
    vertex = elements.get("vertex")
    if vertex is None:
        raise ParseError(name, "no 'vertex' element in the header")
    xyz = _stack(vertex.data, ("x", "y", "z"))
    if xyz is None:
        raise ParseError(name, "the 'vertex' element needs scalar x, y and z properties")
    verts = torch.from_numpy(xyz.astype(np.float32))
    n_verts = len(verts)

    colors = None
    rgb_cols = [_column(vertex.data, k) for k in ("red", "green", "blue")]
    if all(c is not None for c in rgb_cols):
        # as PyTorch3D: colours whose three properties are 1-byte types are scaled by 1/255,
        # any other type is kept as is
        one_byte = all(c.dtype.itemsize == 1 for c in rgb_cols)
        rgb = np.stack([c.astype(np.float64) for c in rgb_cols], axis=1)
        colors = torch.from_numpy((rgb / 255.0 if one_byte else rgb).astype(np.float32))
    normals = _stack(vertex.data, ("nx", "ny", "nz"))
    normals = torch.from_numpy(normals.astype(np.float32)) if normals is not None else None
    uvs = None
    for pair in _UV_NAMES:
        uv = _stack(vertex.data, pair)
        if uv is not None:
            uvs = torch.from_numpy(uv.astype(np.float32))
            break
    if strict:
        for t, what in ((verts, "vertex"), (colors, "colour"), (normals, "normal"), (uvs, "uv")):
            if t is not None:
                check_finite_rows(t.numpy(), name, what, lambda j: _where(vertex, j))

    faces = None
    face = elements.get("face")
    if face is not None and face.count > 0:
        lists = [p for p in face.properties if p.count_dtype is not None]
        named = [p for p in lists if p.name in ("vertex_indices", "vertex_index")]
        if not lists:
            raise ParseError(name, "the 'face' element has no list property of vertex indices")
        prop = (named or lists)[0]
        flat, lens = face.data[prop.name]
        small = np.nonzero(lens < 3)[0]
        if len(small):
            raise ParseError(
                name,
                f"face {int(small[0])} has {int(lens[small[0]])} vertices (needs at least 3)",
                **_where(face, int(small[0])),
            )
        if flat.dtype.kind == "f":
            # float-typed index lists: only whole numbers are indices
            nonint = np.nonzero(~np.isfinite(flat) | (flat != np.round(flat)))[0]
            if len(nonint):
                fi = int(np.searchsorted(np.cumsum(lens), nonint[0], side="right"))
                raise ParseError(
                    name,
                    f"face {fi} has a non-integer vertex index {flat[nonint[0]]}",
                    **_where(face, fi),
                )
            flat = np.where(np.abs(flat) < 2.0**62, flat, -1.0)  # huge: out of range below
        flat = flat.astype(np.int64)
        bad = np.nonzero((flat < 0) | (flat >= n_verts))[0]
        if len(bad):
            fi = int(np.searchsorted(np.cumsum(lens), bad[0], side="right"))
            raise ParseError(
                name,
                f"face {fi} has vertex index {int(flat[bad[0]])} out of range ({n_verts} vertices)",
                **_where(face, fi),
            )
        tri, _ = fan_triangulate(flat, lens, pytorch3d_order=True)
        faces = torch.from_numpy(np.ascontiguousarray(tri))
    return _PlyData(header, verts, faces, colors, normals, uvs)


def _where(el, i: int) -> dict:
    """Where record i of an element is: its line (ASCII), its byte offset (binary, fixed-size
    records), else the offset of the element's first record."""
    if el.line_nos is not None and i < len(el.line_nos):
        return {"line": int(el.line_nos[i])}
    if el.first_line is not None:
        return {"line": el.first_line + i}
    if el.record_size is not None:
        return {"offset": el.offset + i * el.record_size}
    return {"offset": el.offset}


def load_ply(
    f: Any, *, path_manager: Any = None, strict: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the vertices and (triangulated) faces of a .ply file.

    Polygons are fan-triangulated in PyTorch3D's order: when all have k corners, the first
    triangle of every polygon, then the second of every polygon, ...; else polygon by polygon.

    Args:
        f: path (str or os.PathLike) or file object (binary preferred).
        path_manager: optional object with ``open(path, mode)`` used for paths.
        strict: reject NaN / infinite vertex data (also float32 overflow) with a ParseError
            naming the line (ASCII) or the record's index and byte offset (binary).

    Returns:
        verts: (V, 3) float32.
        faces: (F, 3) int64; (0, 3) for a point cloud.
    """
    data = _load_ply(f, path_manager=path_manager, strict=strict)
    faces = data.faces if data.faces is not None else torch.zeros((0, 3), dtype=torch.int64)
    return data.verts, faces


def _fmt_block(cols: list[tuple[np.ndarray, str]], prefix: str = "") -> str:
    """One row per line: the columns' formats joined by spaces, formatted in one % operation."""
    arr = np.concatenate([c.astype(np.float64) for c, _ in cols], axis=1)
    if arr.shape[0] == 0:
        return ""
    row = prefix + " ".join(fmt for c, f in cols for fmt in [f] * c.shape[1]) + "\n"
    return (row * arr.shape[0]) % tuple(arr.ravel().tolist())


def _save_ply(
    f: Any,
    *,
    verts: torch.Tensor,
    faces: torch.Tensor | None,
    verts_normals: torch.Tensor | None = None,
    verts_colors: torch.Tensor | None = None,
    verts_uvs: torch.Tensor | None = None,
    ascii: bool = False,
    decimal_places: int | None = None,
    colors_as_uint8: bool = False,
    big_endian: bool | None = None,
    path_manager: Any = None,
) -> None:
    """Write a PLY file (internal: also writes uvs and chooses the binary byte order)."""
    if big_endian is None:
        big_endian = sys.byteorder == "big"
    n = len(verts)
    opt = {"verts_normals": verts_normals, "verts_colors": verts_colors, "verts_uvs": verts_uvs}
    for key, t in opt.items():
        want = 2 if key == "verts_uvs" else 3
        if t is not None and t.numel() and (t.dim() != 2 or t.shape != (n, want)):
            raise ValueError(f"{key} must have shape ({n}, {want}); got {tuple(t.shape)}")
    if faces is not None and len(faces) and n:
        if bool((faces < 0).any()) or bool((faces >= n).any()):
            # PyTorch3D's behaviour and wording: a warning, and the file is still written
            warnings.warn("Faces have invalid indices", UserWarning, stacklevel=3)
    parts = [(verts, ("x", "y", "z"), "f4")]
    if verts_normals is not None and verts_normals.numel():
        parts.append((verts_normals, ("nx", "ny", "nz"), "f4"))
    if verts_colors is not None and verts_colors.numel():
        if colors_as_uint8:
            c8 = (verts_colors.detach().cpu().clamp(0, 1) * 255).round()
            parts.append((c8, ("red", "green", "blue"), "u1"))
        else:
            parts.append((verts_colors, ("red", "green", "blue"), "f4"))
    if verts_uvs is not None and verts_uvs.numel():
        parts.append((verts_uvs, ("u", "v"), "f4"))
    fmt = "ascii" if ascii else ("binary_big_endian" if big_endian else "binary_little_endian")
    head = [f"ply\nformat {fmt} 1.0\n", f"element vertex {n}\n"]
    type_name = {"f4": "float", "u1": "uchar"}
    for _, names, code in parts:
        head += [f"property {type_name[code]} {nm}\n" for nm in names]
    write_faces = n > 0 and faces is not None
    if write_faces:
        head += [f"element face {len(faces)}\n", "property list uchar int vertex_index\n"]
    head.append("end_header\n")
    with open_for_write(f, binary=True, path_manager=path_manager) as fh:
        fh.write("".join(head).encode("ascii"))
        if n == 0:
            warnings.warn("Empty 'verts' provided", stacklevel=3)
            return
        arrays = [(t.detach().cpu().numpy().reshape(n, -1), code) for t, _, code in parts]
        fl = "%f" if decimal_places is None else f"%.{int(decimal_places)}f"
        if ascii:
            cols = [(a, fl if code == "f4" else "%d") for a, code in arrays]
            fh.write(_fmt_block(cols).encode("ascii"))
        else:
            bo = ">" if big_endian else "<"
            dt = np.dtype(
                [(f"a{i}", bo + code, (a.shape[1],)) for i, (a, code) in enumerate(arrays)]
            )
            rec = np.empty(n, dtype=dt)
            for i, (a, code) in enumerate(arrays):
                rec[f"a{i}"] = a.astype(code)
            fh.write(rec.tobytes())
        if write_faces and len(faces):
            fa = faces.detach().cpu().numpy().astype(np.int64).reshape(-1, 3)
            if ascii:
                fh.write(_fmt_block([(fa, "%d")], prefix="3 ").encode("ascii"))
            else:
                bo = ">" if big_endian else "<"
                fdt = np.dtype([("n", "u1"), ("i", bo + "i4", (3,))])
                rec = np.empty(len(fa), dtype=fdt)
                rec["n"] = 3
                rec["i"] = fa
                fh.write(rec.tobytes())


def save_ply(
    f: Any,
    verts: torch.Tensor,
    faces: torch.Tensor | None = None,
    verts_normals: torch.Tensor | None = None,
    ascii: bool = False,
    decimal_places: int | None = None,
    path_manager: Any = None,
    colors: torch.Tensor | None = None,
) -> None:
    """Save a mesh or point cloud to a .ply file (binary in the machine's byte order, or ASCII).

    Args:
        f: path or file object.
        verts: (V, 3) float.
        faces: (F, 3) int or None (point cloud).
        verts_normals: (V, 3) float or None.
        ascii: write the ASCII format (numbers as ``%f``, as PyTorch3D).
        decimal_places: digits after the point in ASCII.
        path_manager: optional object with ``open(path, mode)``.
        colors: (V, 3) float vertex colours, written as float properties red/green/blue
            (an inverse3d extension; PyTorch3D's save_ply has no colours).
    """
    if not isinstance(verts, torch.Tensor):
        raise TypeError(f"verts must be a torch.Tensor; got {type(verts).__name__}")
    if len(verts) and not (verts.dim() == 2 and verts.shape[1] == 3):
        raise ValueError(f"verts must have shape (V, 3); got {tuple(verts.shape)}")
    if faces is not None and len(faces) and not (faces.dim() == 2 and faces.shape[1] == 3):
        raise ValueError(f"faces must have shape (F, 3); got {tuple(faces.shape)}")
    _save_ply(
        f,
        verts=verts,
        faces=faces,
        verts_normals=verts_normals,
        verts_colors=colors,
        ascii=ascii,
        decimal_places=decimal_places,
        path_manager=path_manager,
    )


class MeshPlyFormat(MeshFormatInterpreter):
    """.ply meshes; vertex colours become TexturesVertex."""

    def __init__(self) -> None:
        self.known_suffixes = (".ply",)

    def read(self, path, include_textures: bool, device, path_manager, **kwargs):
        if not endswith(path, self.known_suffixes):
            return None
        from inverse3d.structures.meshes import Meshes

        data = _load_ply(path, path_manager=path_manager, strict=kwargs.get("strict", False))
        faces = data.faces if data.faces is not None else torch.zeros((0, 3), dtype=torch.int64)
        textures = None
        if include_textures and data.verts_colors is not None:
            from inverse3d.renderer.mesh.textures import TexturesVertex

            textures = TexturesVertex([data.verts_colors.to(device)])
        elif include_textures and data.verts_uvs is not None:
            textures = _uv_textures(path, data, faces, device, path_manager)
        kw = {}
        if data.verts_normals is not None:
            kw["verts_normals"] = [data.verts_normals.to(device)]
        return _make_meshes(Meshes, data.verts.to(device), faces.to(device), textures, kw)

    def save(
        self, data, path, path_manager, binary, decimal_places=None, colors_as_uint8=False,
        **kwargs,
    ) -> bool:  # fmt: skip
        if not endswith(path, self.known_suffixes):
            return False
        verts = data.verts_list()[0]
        faces = data.faces_list()[0]
        normals = None
        if getattr(data, "has_verts_normals", lambda: False)():
            normals = data.verts_normals_list()[0]
        colors = None
        tex = getattr(data, "textures", None)
        if tex is not None and type(tex).__name__ == "TexturesVertex":
            colors = tex.verts_features_list()[0]
            if colors.shape[1] != 3:
                colors = None
        _save_ply(
            path,
            verts=verts,
            faces=faces,
            verts_normals=normals,
            verts_colors=colors,
            ascii=binary is False,
            decimal_places=decimal_places,
            colors_as_uint8=colors_as_uint8,
            path_manager=path_manager,
        )
        return True


def _texture_file(path: Any, header: PlyHeader) -> str | None:
    """The image named by the last ``comment TextureFile <name>`` line, next to the PLY file."""
    given = None
    for comment in header.comments:
        if "TextureFile" in comment:
            given = comment.split(" ")[-1]
    if given is None:
        return None
    folder = os.path.dirname(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else ""
    return os.path.join(folder, given)


def _uv_textures(path, data: _PlyData, faces, device, path_manager):
    """TexturesUV from the vertex uvs and the header's TextureFile image (as PyTorch3D: the uvs
    are per vertex, so faces_uvs are the faces); None without a texture image."""
    from inverse3d.io.image_io import read_image
    from inverse3d.io.utils import path_exists
    from inverse3d.renderer.mesh.textures import TexturesUV

    image_path = _texture_file(path, data.header)
    if image_path is None:
        return None
    if not path_exists(image_path, path_manager, file=True):
        warnings.warn(f"Texture file does not exist: {image_path}", stacklevel=4)
        return None
    image = read_image(image_path, channels=3, path_manager=path_manager)
    return TexturesUV(
        maps=[image.to(device)], faces_uvs=[faces.to(device)], verts_uvs=[data.verts_uvs.to(device)]
    )


def _make_meshes(Meshes, verts, faces, textures, kw):
    try:
        return Meshes(verts=[verts], faces=[faces], textures=textures, **kw)
    except TypeError:  # a Meshes without the verts_normals argument
        return Meshes(verts=[verts], faces=[faces], textures=textures)


class PointcloudPlyFormat(PointcloudFormatInterpreter):
    """.ply point clouds: points, normals and colour features."""

    def __init__(self) -> None:
        self.known_suffixes = (".ply",)

    def read(self, path, device, path_manager, **kwargs):
        if not endswith(path, self.known_suffixes):
            return None
        from inverse3d.structures.pointclouds import Pointclouds

        data = _load_ply(path, path_manager=path_manager, strict=kwargs.get("strict", False))
        normals = [data.verts_normals.to(device)] if data.verts_normals is not None else None
        features = [data.verts_colors.to(device)] if data.verts_colors is not None else None
        return Pointclouds(points=[data.verts.to(device)], normals=normals, features=features)

    def save(
        self, data, path, path_manager, binary, decimal_places=None, colors_as_uint8=False,
        **kwargs,
    ) -> bool:  # fmt: skip
        if not endswith(path, self.known_suffixes):
            return False
        points = data.points_list()[0]
        normals = data.normals_list()
        features = data.features_list()
        colors = features[0] if features is not None else None
        if colors is not None and colors.shape[1] != 3:
            colors = None
        _save_ply(
            path,
            verts=points,
            faces=None,
            verts_normals=normals[0] if normals is not None else None,
            verts_colors=colors,
            ascii=binary is False,
            decimal_places=decimal_places,
            colors_as_uint8=colors_as_uint8,
            path_manager=path_manager,
        )
        return True
