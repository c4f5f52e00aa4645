"""OFF meshes (ASCII): reader, writer and the OFF interpreter used by `IO`.

Supports the ``OFF`` / ``COFF`` keyword (optional, also on the counts line), comments, vertex
colours (3 or 4 values after x y z) and face colours (3 or 4 values after the indices); integer
colours are scaled by 1/255. Polygons are fan-triangulated (face colours repeated per triangle).
As PyTorch3D, vertex colours become TexturesVertex and face colours a 1x1 TexturesAtlas.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from inverse3d.io._ply_parse import parse_numbers, raise_first
from inverse3d.io.pluggable_formats import MeshFormatInterpreter, endswith
from inverse3d.io.utils import (
    ParseError,
    check_finite_rows,
    decode_text,
    fan_triangulate,
    open_for_write,
    read_bytes,
)

__all__ = ["load_off", "save_off", "MeshOffFormat"]


def _numbers(rows, line_nos, name, what) -> tuple[np.ndarray, np.ndarray]:
    return parse_numbers(rows, line_nos, name, lambda t: f"non-numeric {what} value {t!r}")


def _colors(vals: np.ndarray, is_int: bool) -> np.ndarray:
    return (vals / 255.0 if is_int else vals).astype(np.float32)


_KEYWORDS = ("OFF", "COFF", "NOFF", "CNOFF")


def _split_keyword(tok: list[str]) -> list[str]:
    """The counts tokens of the first line: without its OFF keyword, which may also be glued to
    the counts ("OFF8 6 0", accepted by PyTorch3D)."""
    if tok[0].upper() in _KEYWORDS:
        return tok[1:]
    if tok[0][:3].upper() == "OFF":
        return [tok[0][3:]] + tok[1:]
    return tok


def _parse_off(text: str, name: str, strict: bool = False) -> dict:
    lines = text.splitlines()
    content = []  # (line number, text without comment)
    for i, ln in enumerate(lines, start=1):
        s = ln.split("#", 1)[0].strip()
        if s:
            content.append((i, s))
    if not content:
        raise ParseError(name, "empty file (no OFF header or counts)")
    pos = 1  # content lines used by the header: the counts line, and the keyword's own line
    no, first = content[0]
    tok = first.split()
    if tok[0].upper() in _KEYWORDS or tok[0][:3].upper() == "OFF":
        tok = _split_keyword(tok)
        if not tok:
            if len(content) < 2:
                raise ParseError(name, "file ends before the counts line", line=no)
            no, counts_line = content[1]
            tok = counts_line.split()
            pos = 2
    elif tok[0].upper().endswith("OFF"):
        raise ParseError(name, f"unsupported OFF variant {tok[0]!r}", line=no)
    if len(tok) < 2 or len(tok) > 3:
        raise ParseError(name, f"invalid counts line {' '.join(tok)!r}", line=no)
    try:
        n_verts, n_faces = int(tok[0]), int(tok[1])
    except ValueError:
        raise ParseError(name, f"invalid counts line {' '.join(tok)!r}", line=no) from None
    if n_verts < 0 or n_faces < 0:
        raise ParseError(name, "negative counts", line=no)
    if pos + n_verts + n_faces > len(content):
        last = content[-1][0]
        have = len(content) - pos
        raise ParseError(
            name,
            f"file ends after {have} of {n_verts + n_faces} vertex and face lines "
            "(Not enough face data.)",
            line=last,
        )
    if pos + n_verts + n_faces < len(content):
        extra_no, extra_text = content[pos + n_verts + n_faces]
        raise ParseError(
            name, f"Extra data at end of file: {extra_text[:20]!r} after the last face",
            line=extra_no,
        )  # fmt: skip
    out: dict = {}
    vrows = content[pos : pos + n_verts]
    vno = np.array([r[0] for r in vrows], dtype=np.int64)
    vals, counts = _numbers([r[1] for r in vrows], vno, name, "vertex")
    if n_verts:
        raise_first(
            (counts != counts[0]) | ~np.isin(counts, (3, 6, 7)),
            name,
            vno,
            lambda j: (
                f"Bad vertex data: the line has {int(counts[j])} values (3, 6 or 7, all alike)"
            ),
        )
        vv = vals.reshape(n_verts, int(counts[0]))
        out["verts"] = vv[:, :3].astype(np.float32)
        if vv.shape[1] > 3:
            # PyTorch3D's rule: colours are integers (scaled by 1/255) when the first vertex
            # line has exactly 3 periods (those of x, y, z)
            is_int = vrows[0][1].count(".") == 3
            out["verts_colors"] = _colors(vv[:, 3:], is_int)
        if strict:
            for key, what in (("verts", "vertex"), ("verts_colors", "vertex colour")):
                if key in out:
                    check_finite_rows(out[key], name, what, lambda j: {"line": int(vno[j])})
    else:
        out["verts"] = np.zeros((0, 3), dtype=np.float32)
    frows = content[pos + n_verts :]
    if n_faces:
        fno = np.array([r[0] for r in frows], dtype=np.int64)
        vals, counts = _numbers([r[1] for r in frows], fno, name, "face")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        k = vals[starts]
        raise_first(
            (k != np.round(k)) | (k < 3) | (k + 1 > counts),
            name,
            fno,
            lambda j: (
                f"bad face vertex count {vals[starts[j]]} (Faces must have at least 3 vertices.)"
                if 0 <= vals[starts[j]] < 3
                else f"bad face vertex count {vals[starts[j]]} (A line of face data did not "
                "have the specified length.)"
            ),
        )
        k = k.astype(np.int64)
        n_col = counts - 1 - k
        raise_first(
            (n_col != n_col[0]) | ~np.isin(n_col, (0, 3, 4)),
            name,
            fno,
            lambda j: (
                f"face line has {int(n_col[j])} colour values (0, 3 or 4, all alike): "
                "Unexpected number of colors."
            ),
        )
        pos_idx = np.repeat(starts + 1 - np.concatenate([[0], np.cumsum(k)[:-1]]), k)
        idx_vals = vals[pos_idx + np.arange(int(k.sum()))]
        corner_face = np.repeat(np.arange(n_faces), k)
        raise_first(
            (idx_vals != np.round(idx_vals)) | (idx_vals < 0) | (idx_vals >= n_verts),
            name,
            fno[corner_face],
            lambda j: f"face index {idx_vals[j]} out of range ({n_verts} vertices)",
        )
        tri, poly = fan_triangulate(idx_vals.astype(np.int64), k, pytorch3d_order=True)
        out["faces"] = tri
        c = int(n_col[0])
        if c:
            cols = vals[(starts + 1 + k)[:, None] + np.arange(c)[None, :]]
            # PyTorch3D's rule: integer colours when the first face line has no period
            is_int = "." not in frows[0][1]
            out["faces_colors"] = _colors(cols, is_int)[poly]
            if strict:
                check_finite_rows(
                    _colors(cols, is_int), name, "face colour", lambda j: {"line": int(fno[j])}
                )
    return out


def load_off(f: Any, path_manager: Any = None, *, strict: bool = False) -> dict:
    """Read an OFF file into a dict with "verts" (V, 3) float32 and, when present, "faces"
    (F, 3) int64, "verts_colors" (V, C) and "faces_colors" (F, C) float32 (C = 3 or 4).

    As PyTorch3D: integer colours are scaled by 1/255 (vertex colours when the first vertex line
    has exactly 3 periods, face colours when the first face line has none); polygons that all
    have k corners give the first triangle of every polygon, then the second, ...; polygons of
    mixed sizes give their triangles polygon by polygon. `strict` rejects NaN / infinite values
    (also float32 overflow) with a ParseError naming the line."""
    data, name = read_bytes(f, path_manager)
    with np.errstate(over="ignore"):  # float32 overflow is inf, as PyTorch3D
        return _parse_off(decode_text(data, name), name, strict=strict)


def save_off(
    f: Any,
    verts: torch.Tensor,
    faces: torch.Tensor | None = None,
    verts_colors: torch.Tensor | None = None,
    faces_colors: torch.Tensor | None = None,
    decimal_places: int | None = None,
    path_manager: Any = None,
) -> None:
    """Write an ASCII OFF file. verts: (V, 3); faces: (F, 3); colours: (V, C) / (F, C), C in 3, 4."""
    n = len(verts)
    if n and (verts.dim() != 2 or verts.shape[1] != 3):
        raise ValueError(f"verts must have shape (V, 3); got {tuple(verts.shape)}")
    if faces is not None and len(faces) == 0:
        faces = None
    if faces is not None and (faces.dim() != 2 or faces.shape[1] != 3):
        raise ValueError(f"faces must have shape (F, 3); got {tuple(faces.shape)}")
    if faces is not None and (bool((faces < 0).any()) or bool((faces >= n).any())):
        raise ValueError(f"faces has indices outside [0, {n})")
    for key, t, rows in (("verts_colors", verts_colors, n), ("faces_colors", faces_colors, None)):
        if t is None:
            continue
        rows = rows if rows is not None else (0 if faces is None else len(faces))
        if t.dim() != 2 or t.shape[0] != rows or t.shape[1] not in (3, 4):
            raise ValueError(f"{key} must have shape ({rows}, 3 or 4); got {tuple(t.shape)}")
    fl = "%f" if decimal_places is None else f"%.{int(decimal_places)}f"
    nf = 0 if faces is None else len(faces)
    parts = [f"OFF\n{n} {nf} 0\n"]
    v = verts.detach().cpu().double()
    if verts_colors is not None:
        v = torch.cat([v, verts_colors.detach().cpu().double()], dim=1)
    if n:
        row = " ".join([fl] * v.shape[1]) + "\n"
        parts.append((row * n) % tuple(v.numpy().ravel().tolist()))
    if nf:
        fa = faces.detach().cpu().numpy().astype(np.float64)
        row = "3 %d %d %d"
        if faces_colors is not None:
            fa = np.concatenate([fa, faces_colors.detach().cpu().double().numpy()], axis=1)
            row += (" " + fl) * faces_colors.shape[1]
        parts.append(((row + "\n") * nf) % tuple(fa.ravel().tolist()))
    with open_for_write(f, binary=True, path_manager=path_manager) as fh:
        fh.write("".join(parts).encode("ascii"))


class MeshOffFormat(MeshFormatInterpreter):
    """.off meshes: vertex colours <-> TexturesVertex, face colours <-> 1x1 TexturesAtlas."""

    def __init__(self) -> None:
        self.known_suffixes = (".off",)

    def read(self, path, include_textures: bool, device, path_manager, **kwargs):
        if not endswith(path, self.known_suffixes):
            return None
        from inverse3d.structures.meshes import Meshes

        data = load_off(path, path_manager=path_manager, strict=kwargs.get("strict", False))
        verts = torch.from_numpy(data["verts"]).to(device)
        faces = torch.from_numpy(data.get("faces", np.zeros((0, 3), np.int64))).to(device)
        textures = None
        if include_textures and "verts_colors" in data:
            from inverse3d.renderer.mesh.textures import TexturesVertex

            if "faces_colors" in data:
                warnings.warn(
                    "Faces colors ignored because vertex colors provided too.", stacklevel=2
                )
            textures = TexturesVertex([torch.from_numpy(data["verts_colors"]).to(device)])
        elif include_textures and "faces_colors" in data:
            from inverse3d.renderer.mesh.textures import TexturesAtlas

            fc = torch.from_numpy(data["faces_colors"]).to(device)
            textures = TexturesAtlas([fc[:, None, None, :]])
        return Meshes(verts=[verts], faces=[faces], textures=textures)

    def save(self, data, path, path_manager, binary, decimal_places=None, **kwargs) -> bool:
        if not endswith(path, self.known_suffixes):
            return False
        verts = data.verts_list()[0]
        faces = data.faces_list()[0]
        tex = getattr(data, "textures", None)
        verts_colors = faces_colors = None
        if tex is not None and type(tex).__name__ == "TexturesVertex":
            verts_colors = tex.verts_features_list()[0]
        elif tex is not None and type(tex).__name__ == "TexturesAtlas":
            atlas = tex.atlas_list()[0]
            if atlas.shape[1] == 1:
                faces_colors = atlas[:, 0, 0, :]
        save_off(
            path,
            verts,
            faces,
            verts_colors=verts_colors,
            faces_colors=faces_colors,
            decimal_places=decimal_places,
            path_manager=path_manager,
        )
        return True
