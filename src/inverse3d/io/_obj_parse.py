"""Vectorized Wavefront OBJ text parser (internal; `obj_io.load_obj` is the public entry).

Lines are classified with numpy on their first characters; the numbers of all ``v``, ``vt``,
``vn`` and ``f`` lines are parsed in one numpy conversion per kind. Only rare lines (usemtl,
mtllib, g, o, s, ...) and files mixing face formats go through Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inverse3d.io.utils import (
    ParseError,
    check_finite_rows,
    count_tokens,
    fan_triangulate,
    gather_columns,
    parse_numbers,
    tokenize_lines,
)

_ABSENT = np.iinfo(np.int64).min
_SATURATED = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)  # numpy's value on overflow
_LIMIT = 2**62  # no file holds this many elements: larger indices are out of range


@dataclass
class ObjData:
    verts: np.ndarray  # (V, 3) float32
    normals: np.ndarray  # (N, 3) float32
    verts_uvs: np.ndarray  # (T, 2) float32
    faces_verts: np.ndarray  # (F, 3) int64, 0-based
    faces_normals: np.ndarray  # (F, 3) int64, -1 when absent
    faces_uvs: np.ndarray  # (F, 3) int64, -1 when absent
    faces_materials: np.ndarray  # (F,) int64, -1 when absent
    material_names: list[str] = field(default_factory=list)
    mtllib: str | None = None


def _prepare_lines(text: str) -> list[str]:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if "\\\n" in text:  # line continuations: merge, keep the numbering of later lines
        lines = _join_continuations(lines)
    if text[:1] in (" ", "\t") or "\n " in text or "\n\t" in text:
        lines = [ln.lstrip() for ln in lines]
    if "#" in text:
        for i in [i for i, ln in enumerate(lines) if "#" in ln]:
            lines[i] = lines[i].split("#", 1)[0]
    return lines


def _join_continuations(lines: list[str]) -> list[str]:
    """Merge each run of lines ending in a backslash into the line that ends the run; the lines
    of the run become empty, so later line numbers are unchanged. Linear in the text size: the
    pieces of a run are collected and joined once."""
    out = list(lines)
    parts: list[str] = []
    for i, ln in enumerate(lines):
        if ln.endswith("\\") and i + 1 < len(lines):
            parts.append(ln[:-1])
            out[i] = ""
        elif parts:
            parts.append(ln)
            out[i] = " ".join(parts)
            parts = []
    return out


def _bad_number_line(rest: list[str], line_nos: np.ndarray, name: str, conv, what: str):
    """Find the first line with a token that `conv` rejects and raise a ParseError for it."""
    for ln, no in zip(rest, line_nos):
        for tok in ln.split():
            try:
                conv(tok)
            except ValueError:
                raise ParseError(name, f"non-numeric {what} value {tok!r}", line=int(no)) from None
    raise ParseError(name, f"could not parse the {what} values", line=int(line_nos[0]))


def _parse_numeric(lines, idx, skip, k, name, what) -> np.ndarray:
    """(n, k) float32 from the lines `idx` (keyword of `skip` chars removed), first k values kept."""
    if len(idx) == 0:
        return np.zeros((0, k), dtype=np.float32)
    rest = [lines[i][skip:] for i in idx]
    joined, counts, _ = count_tokens(rest)
    short = np.nonzero(counts < k)[0]
    if len(short):
        j = int(short[0])
        raise ParseError(
            name, f"{what} needs {k} values; got {int(counts[j])}", line=int(idx[j]) + 1
        )
    vals = parse_numbers(joined, int(counts.sum()), np.float64)
    if vals is None:
        _bad_number_line(rest, idx + 1, name, float, what)
    with np.errstate(over="ignore"):  # beyond float32: inf, as PyTorch3D (strict rejects it)
        return gather_columns(vals, counts, k).astype(np.float32)


def _face_tokens_fast(
    joined: str, n: int, starts: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Parse the n face corner tokens of `joined` when all share one format (v, v/vt, v/vt/vn,
    v//vn); None otherwise. `starts` are the byte positions of the tokens (ASCII text)."""
    if starts is None:
        return None
    out = _face_tokens_fast_parse(joined, n, starts)
    if out is not None and any(bool(np.isin(a, _SATURATED).any()) for a in out if a is not None):
        return None  # an overflowing or int64-min index: the slow path reports it as written
    return out


def _face_tokens_fast_parse(joined: str, n: int, starts: np.ndarray):
    b = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    slash = np.flatnonzero(b == 47)
    if len(slash) == 0:
        v = parse_numbers(joined, n, np.int64)
        return None if v is None else (v, None, None)
    per_tok = np.bincount(np.searchsorted(starts, slash, side="right") - 1, minlength=n)
    dbl = slash[:-1][np.diff(slash) == 1]
    per_dbl = np.bincount(np.searchsorted(starts, dbl, side="right") - 1, minlength=n)
    if (per_tok == 1).all() and not per_dbl.any():
        vals = parse_numbers(joined.replace("/", " "), 2 * n, np.int64)
        if vals is None:
            return None
        vals = vals.reshape(n, 2)
        return vals[:, 0], vals[:, 1], None
    if (per_tok == 2).all() and not per_dbl.any():
        vals = parse_numbers(joined.replace("/", " "), 3 * n, np.int64)
        if vals is None:
            return None
        vals = vals.reshape(n, 3)
        return vals[:, 0], vals[:, 1], vals[:, 2]
    if (per_tok == 2).all() and (per_dbl == 1).all():
        vals = parse_numbers(joined.replace("//", " "), 2 * n, np.int64)
        if vals is None:
            return None
        vals = vals.reshape(n, 2)
        return vals[:, 0], None, vals[:, 1]
    return None


def _face_tokens_slow(tokens, counts, line_nos, name):
    """Token by token, with per-face consistency checks and precise errors."""
    n = len(tokens)
    v = np.empty(n, dtype=np.int64)
    vt = np.full(n, _ABSENT, dtype=np.int64)
    vn = np.full(n, _ABSENT, dtype=np.int64)
    face_of = np.repeat(np.arange(len(counts)), counts)
    for j, t in enumerate(tokens):
        parts = t.split("/")
        no = int(line_nos[face_of[j]])
        if len(parts) > 3:
            raise ParseError(name, f"face vertex {t!r} has more than 3 indices", line=no)
        for k, (arr, what) in enumerate(((v, "vertex"), (vt, "texture"), (vn, "normal"))):
            if k >= len(parts) or (k > 0 and parts[k] == ""):
                continue
            try:
                value = int(parts[k])
            except ValueError:
                raise ParseError(name, f"non-numeric face index in {t!r}", line=no) from None
            if not -_LIMIT < value < _LIMIT:
                raise ParseError(name, f"{what} index {parts[k]} out of range", line=no)
            arr[j] = value
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for arr, what in ((vt, "texture"), (vn, "normal")):
        has = arr != _ABSENT
        n_has = np.add.reduceat(has.astype(np.int64), starts) if n else has
        bad = np.nonzero((n_has != 0) & (n_has != counts))[0]
        if len(bad):
            raise ParseError(
                name,
                f"face mixes corners with and without {what} indices",
                line=int(line_nos[bad[0]]),
            )
    return v, vt, vn


def _resolve(raw, before, total, face_of, line_nos, name, what) -> np.ndarray:
    """1-based / negative OBJ indices -> 0-based; ParseError on 0 or out of range.

    `before()` gives, per corner, how many elements were defined before its line (only computed
    when relative indices occur).
    """
    present = raw != _ABSENT
    if not present.any():
        return np.full(raw.shape, -1, dtype=np.int64)
    has_neg = bool((raw < 0).any() if present.all() else (raw[present] < 0).any())
    n_before = before() if has_neg else 0
    out = np.where(raw > 0, raw - 1, n_before + raw) if has_neg else raw - 1
    if not present.all():
        out[~present] = -1
    bad = present & ((raw == 0) | (out < 0) | (out >= total))
    if bad.any():
        j = int(np.nonzero(bad)[0][0])
        r = int(raw[j])
        no = int(line_nos[face_of[j]])
        if r == 0:
            reason = f"{what} index 0 is invalid (OBJ indices start at 1)"
        elif r < 0:
            reason = (
                f"relative {what} index {r} points before the first one "
                f"({int(n_before[j])} defined so far)"
            )
        else:
            reason = f"{what} index {r} out of range ({total} defined)"
        raise ParseError(name, reason, line=no)
    return out


def _heads(lines: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first three bytes of every line (0 past the end of the line), as (n,) uint8 arrays."""
    raw = "\n".join(lines).encode("utf-8", errors="surrogatepass")
    b = np.frombuffer(raw + b"\n\n\n", dtype=np.uint8)
    starts = np.concatenate([[0], np.flatnonzero(b[: len(raw)] == 10) + 1])
    c0 = b[starts].copy()
    c1 = b[starts + 1].copy()
    c2 = b[starts + 2].copy()
    c0[c0 == 10] = 0
    c1[(c0 == 0) | (c1 == 10)] = 0
    c2[(c1 == 0) | (c2 == 10)] = 0
    return c0, c1, c2


def parse_obj(text: str, name: str, strict: bool = False) -> ObjData:
    lines = _prepare_lines(text)
    c0, c1, c2 = _heads(lines)

    def sep(c):
        return (c == 32) | (c == 9) | (c == 0) | (c == 11) | (c == 12)

    is_v = (c0 == 118) & sep(c1)
    is_vt = (c0 == 118) & (c1 == 116) & sep(c2)
    is_vn = (c0 == 118) & (c1 == 110) & sep(c2)
    is_f = (c0 == 102) & sep(c1)
    other = ~(is_v | is_vt | is_vn | is_f | (c0 == 0))

    material_names: list[str] = []
    material_ids: dict[str, int] = {}
    mat_lines: list[int] = []
    mat_ids: list[int] = []
    mtllib = None
    for i in np.nonzero(other)[0]:
        ln = lines[i]
        tokens = ln.split()
        if not tokens:
            continue
        key = tokens[0]
        if key == "usemtl":
            if len(tokens) < 2:
                raise ParseError(name, "usemtl without a material name", line=int(i) + 1)
            mat = ln.strip()[len("usemtl") :].strip()
            if mat not in material_ids:
                material_ids[mat] = len(material_names)
                material_names.append(mat)
            mat_lines.append(int(i))
            mat_ids.append(material_ids[mat])
        elif key == "mtllib":
            if len(tokens) < 2:
                raise ParseError(name, "mtllib without a file name", line=int(i) + 1)
            if mtllib is None:
                mtllib = ln.strip()[len("mtllib") :].strip()

    v_idx, vt_idx, vn_idx, f_idx = (np.nonzero(m)[0] for m in (is_v, is_vt, is_vn, is_f))
    verts = _parse_numeric(lines, v_idx, 1, 3, name, "vertex")
    uvs = _parse_numeric(lines, vt_idx, 2, 2, name, "texture coordinate")
    normals = _parse_numeric(lines, vn_idx, 2, 3, name, "normal")
    if strict:
        for arr, idx, what in (
            (verts, v_idx, "vertex"), (uvs, vt_idx, "texture coordinate"),
            (normals, vn_idx, "normal"),
        ):  # fmt: skip
            check_finite_rows(arr, name, what, lambda j, idx=idx: {"line": int(idx[j]) + 1})

    empty3 = np.zeros((0, 3), dtype=np.int64)
    if len(f_idx) == 0:
        return ObjData(
            verts, normals, uvs, empty3, empty3.copy(), empty3.copy(),
            np.zeros(0, dtype=np.int64), material_names, mtllib,
        )  # fmt: skip
    rest = [lines[i][1:] for i in f_idx]
    joined, counts, starts = count_tokens(rest, want_starts=True)
    line_nos = f_idx + 1
    short = np.nonzero(counts < 3)[0]
    if len(short):
        j = int(short[0])
        raise ParseError(
            name, f"face needs at least 3 vertices; got {int(counts[j])}", line=int(line_nos[j])
        )
    parsed = _face_tokens_fast(joined, int(counts.sum()), starts)
    if parsed is None:
        tokens, counts = tokenize_lines(rest)
        parsed = _face_tokens_slow(tokens, counts, line_nos, name)
    fv, ft, fn = parsed
    n_corners = len(fv)
    ft = np.full(n_corners, _ABSENT, dtype=np.int64) if ft is None else ft
    fn = np.full(n_corners, _ABSENT, dtype=np.int64) if fn is None else fn
    face_of = np.repeat(np.arange(len(counts)), counts)
    corner_line = f_idx[face_of]

    def before(mask):
        return lambda: np.cumsum(mask)[corner_line]

    fv = _resolve(fv, before(is_v), len(verts), face_of, line_nos, name, "vertex")
    ft = _resolve(ft, before(is_vt), len(uvs), face_of, line_nos, name, "texture")
    fn = _resolve(fn, before(is_vn), len(normals), face_of, line_nos, name, "normal")

    tri_v, poly = fan_triangulate(fv, counts)
    tri_t, _ = fan_triangulate(ft, counts)
    tri_n, _ = fan_triangulate(fn, counts)
    if mat_lines:
        pos = np.searchsorted(np.asarray(mat_lines), f_idx, side="right") - 1
        face_mat = np.where(pos >= 0, np.asarray(mat_ids)[np.maximum(pos, 0)], -1)
    else:
        face_mat = np.full(len(f_idx), -1, dtype=np.int64)
    return ObjData(
        verts, normals, uvs, tri_v, tri_n, tri_t, face_mat[poly].astype(np.int64),
        material_names, mtllib,
    )  # fmt: skip
