"""Shared helpers of the io package: opening paths or file objects, parse errors, indices.

Every parser in `inverse3d.io` reports malformed input with a :class:`ParseError`, a `ValueError`
whose message names the file, the line (text formats) or byte offset (binary formats) and the
reason, e.g. ``mesh.obj:12: face index 9 out of range (8 vertices)``.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from typing import IO, Any, Union

import numpy as np
import torch

from inverse3d.common.errors import InputError

PathOrStr = Union[str, os.PathLike]

__all__ = ["ParseError", "PathOrStr"]


class ParseError(InputError):
    """A malformed file: `ValueError` naming the file, the line or byte offset and the reason."""

    def __init__(
        self,
        filename: str,
        reason: str,
        *,
        line: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.filename = filename
        self.reason = reason
        self.line = line
        self.offset = offset
        if line is not None:
            where = f"{filename}:{line}"
        elif offset is not None:
            where = f"{filename}: byte offset {offset}"
        else:
            where = filename
        super().__init__(f"{where}: {reason}")


def file_name(f: Any) -> str:
    """A printable name for a path or a file object (its `.name`, else ``<stream>``)."""
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    name = getattr(f, "name", None)
    if isinstance(name, (str, os.PathLike)):
        return os.fspath(name)
    return "<stream>"


def is_path(f: Any) -> bool:
    return isinstance(f, (str, os.PathLike))


def read_bytes(f: Any, path_manager: Any = None) -> tuple[bytes, str]:
    """Read a whole file (path or file object, text or binary) as bytes; return (data, name).

    Raises FileNotFoundError for a missing path and IsADirectoryError for a directory.
    """
    name = file_name(f)
    if is_path(f):
        path = os.fspath(f)
        if path_manager is not None and hasattr(path_manager, "open"):
            with path_manager.open(path, "rb") as fh:
                return fh.read(), name
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a directory, expected a file")
        if not os.path.exists(path):
            raise FileNotFoundError(f"No such file: {path}")
        with open(path, "rb") as fh:
            return fh.read(), name
    if not hasattr(f, "read"):
        raise TypeError(f"f must be a path or a file object; got {type(f).__name__}")
    data = f.read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    return bytes(data), name


def path_exists(path: Any, path_manager: Any = None, file: bool = False) -> bool:
    """Whether `path` exists (a regular file when `file`), asked to `path_manager` when it has
    ``exists`` / ``isfile`` (iopath's PathManager), else to the local file system."""
    p = os.fspath(path)
    if path_manager is not None:
        if file and hasattr(path_manager, "isfile"):
            return bool(path_manager.isfile(p))
        if hasattr(path_manager, "exists"):
            return bool(path_manager.exists(p))
    return os.path.isfile(p) if file else os.path.exists(p)


def decode_text(data: bytes, name: str) -> str:
    """Decode UTF-8 text; a decoding failure becomes a ParseError naming the byte offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParseError(name, f"not valid UTF-8 text ({e.reason})", offset=e.start) from None


@contextlib.contextmanager
def open_for_write(f: Any, binary: bool, path_manager: Any = None) -> Iterator[IO]:
    """Yield a writable binary stream for a path or a file object (text streams are wrapped)."""
    if is_path(f):
        path = os.fspath(f)
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a directory, expected a file path")
        if path_manager is not None and hasattr(path_manager, "open"):
            with path_manager.open(path, "wb") as fh:
                yield fh
            return
        with open(path, "wb") as fh:
            yield fh
        return
    if not hasattr(f, "write"):
        raise TypeError(f"f must be a path or a file object; got {type(f).__name__}")
    if isinstance(f, io.TextIOBase):
        buf = io.BytesIO()
        yield buf
        f.write(buf.getvalue().decode("utf-8" if not binary else "latin-1"))
        return
    yield f


def check_faces_indices(faces: torch.Tensor, max_index: int, name: str = "faces") -> None:
    """Raise ValueError when `faces` has indices outside [0, max_index) (-1 padding excluded)."""
    if faces.numel() == 0:
        return
    bad = (faces < 0) | (faces >= max_index)
    if bool(bad.any()):
        first = int(faces[bad].flatten()[0])
        raise ValueError(f"{name} has indices out of range [0, {max_index}); found {first}")


_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 11, 12, 13, 32]] = True


def count_tokens(
    lines: list[str], want_starts: bool = False
) -> tuple[str, np.ndarray, np.ndarray | None]:
    """Join `lines` with newlines and count the whitespace-separated tokens of each line.

    Returns (joined text, token count per line (n,) int64, byte position of each token start
    when `want_starts` and the text is pure ASCII, else None). Computed on the bytes with numpy.
    """
    n = len(lines)
    joined = "\n".join(lines)
    if n == 0:
        return joined, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    raw = joined.encode("utf-8", errors="surrogatepass")
    b = np.frombuffer(raw, dtype=np.uint8)
    ws = (b == 32) | ((b >= 9) & (b <= 13))
    is_start = ~ws
    is_start[1:] &= ws[:-1]
    starts = np.flatnonzero(is_start)
    line_starts = np.concatenate([[0], np.flatnonzero(b == 10) + 1])
    counts = np.diff(np.searchsorted(starts, line_starts), append=len(starts)).astype(np.int64)
    if len(raw) != len(joined) or bool(((b < 32) & ~ws).any()):
        # non-ASCII or unusual control characters: count as str.split does
        counts = np.fromiter((len(ln.split()) for ln in lines), dtype=np.int64, count=n)
        return joined, counts, None
    return joined, counts, (starts if want_starts else None)


def parse_numbers(text: str, expected: int, dtype) -> np.ndarray | None:
    """All whitespace-separated numbers of `text` as one array, or None unless every token is
    exactly one number of `dtype` and there are `expected` of them."""
    if expected == 0:
        return np.zeros(0, dtype=dtype) if not text.strip() else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            vals = np.fromstring(text, dtype=dtype, sep=" ")
        except (ValueError, DeprecationWarning, OverflowError):
            return None
    if len(vals) != expected:
        return None
    return vals


def tokenize_lines(lines: list[str]) -> tuple[list[str], np.ndarray]:
    """Split each line on whitespace; return (all tokens in order, token count per line)."""
    joined, counts, _ = count_tokens(lines)
    tokens = joined.split()
    if len(tokens) != int(counts.sum()):
        parts = [ln.split() for ln in lines]
        counts = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(lines))
        tokens = [t for p in parts for t in p]
    return tokens, counts


def check_finite_rows(values: np.ndarray, name: str, what: str, where) -> None:
    """ParseError at the first row of `values` (n, k) holding a NaN or an infinity (also a
    float32 overflow such as 1e39), located by where(j) -> {"line": ...} or {"offset": ...}."""
    bad = ~np.isfinite(values).all(axis=1) if values.ndim == 2 else ~np.isfinite(values)
    hits = np.flatnonzero(bad)
    if len(hits):
        j = int(hits[0])
        row = values[j]
        raise ParseError(
            name,
            f"{what} {j} is not finite: {np.array2string(np.asarray(row), separator=', ')} "
            "(strict mode; a value beyond the float32 range reads as inf)",
            **where(j),
        )


def gather_columns(values: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """The first `k` values of each row of a ragged array (rows of `counts` values, all >= k)."""
    n = len(counts)
    if n and bool((counts == counts[0]).all()):
        return values.reshape(n, int(counts[0]))[:, :k]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return values[starts[:, None] + np.arange(k)[None, :]]


def fan_triangulate(
    flat: np.ndarray, counts: np.ndarray, pytorch3d_order: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Fan-triangulate polygons given as a flat array of corners and the corner count per polygon:
    polygon (c0, c1, ..., ck) gives the triangles (c0, ci, ci+1).

    Triangles come polygon by polygon, except with `pytorch3d_order` when every polygon has the
    same number of corners: then the first triangle of every polygon comes first, then the second
    triangle of every polygon, and so on (what PyTorch3D's PLY and OFF readers return; for a cube
    of 6 quads, triangles 0-5 are the first halves and 6-11 the second halves).

    Returns (triangles (T, 3) of corner values, polygon index of each triangle (T,)).
    """
    counts = counts.astype(np.int64)
    n = len(counts)
    if n and bool((counts == 3).all()):
        return flat.reshape(-1, 3), np.arange(n)
    if pytorch3d_order and n and bool((counts == counts[0]).all()):
        k = int(counts[0])
        poly_corners = flat.reshape(n, k)
        tri = np.concatenate([poly_corners[:, [0, i + 1, i + 2]] for i in range(k - 2)], axis=0)
        return tri, np.tile(np.arange(n), max(k - 2, 0))
    n_tri = np.maximum(counts - 2, 0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    poly = np.repeat(np.arange(n), n_tri)
    first_tri = np.concatenate([[0], np.cumsum(n_tri)[:-1]]).astype(np.int64)
    local = np.arange(int(n_tri.sum())) - first_tri[poly]
    base = starts[poly]
    idx = np.stack([base, base + local + 1, base + local + 2], axis=1)
    return flat[idx], poly
