"""PLY header and element reader (internal; `ply_io` builds tensors from it).

ASCII and binary (little and big endian) bodies; every PLY scalar type and its sized alias; list
properties with any count and item types. Binary elements whose records all have the same size are
read with one `np.frombuffer` on a structured dtype; ASCII elements with one numpy conversion.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from inverse3d.io.utils import ParseError, tokenize_lines

PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
_STRUCT = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I"}
FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")


@dataclass
class PlyProperty:
    name: str
    dtype: str  # numpy code without byte order ("f4", "u1", ...)
    count_dtype: str | None = None  # list properties: type of the length prefix


@dataclass
class PlyElement:
    name: str
    count: int
    properties: list[PlyProperty] = field(default_factory=list)
    # filled by the reader: name -> (n,) array, or (flat values, lengths) for list properties
    data: dict = field(default_factory=dict)
    first_line: int | None = None  # ascii: line number of the first record
    line_nos: np.ndarray | None = None  # ascii: line number of every record
    offset: int | None = None  # binary: byte offset of the first record
    record_size: int | None = None  # binary: size of each record when all have the same size


@dataclass
class PlyHeader:
    format: str
    elements: list[PlyElement]
    comments: list[str]
    obj_info: list[str]
    data_start: int
    n_header_lines: int


_END = re.compile(rb"end_header[ \t]*(\r\n|\n|\r)")


def parse_header(data: bytes, name: str) -> PlyHeader:
    if not data.startswith(b"ply"):
        raise ParseError(name, "not a PLY file (first line must be 'ply')", line=1)
    m = _END.search(data)
    if m is None:
        raise ParseError(name, "bad header: no 'end_header' line")
    try:
        text = data[: m.start()].decode("ascii")
    except UnicodeDecodeError as e:
        raise ParseError(name, "bad header: non-ASCII byte", offset=e.start) from None
    lines = text.splitlines()
    if lines[0].strip() != "ply":
        raise ParseError(name, "not a PLY file (first line must be 'ply')", line=1)
    fmt = None
    elements: list[PlyElement] = []
    comments, obj_info = [], []
    for no, ln in enumerate(lines[1:], start=2):
        tok = ln.split()
        if not tok:
            continue
        key = tok[0]
        if key == "comment":
            comments.append(ln.strip()[7:].strip())
        elif key == "obj_info":
            obj_info.append(ln.strip()[8:].strip())
        elif key == "format":
            if len(tok) != 3 or tok[1] not in FORMATS:
                raise ParseError(name, f"bad header: unknown format line {ln.strip()!r}", line=no)
            if tok[2] not in ("1.0", "1"):
                raise ParseError(name, f"bad header: unsupported version {tok[2]!r}", line=no)
            fmt = tok[1]
        elif key == "element":
            if len(tok) != 3:
                raise ParseError(name, f"bad header: malformed element line {ln!r}", line=no)
            try:
                count = int(tok[2])
            except ValueError:
                count = -1
            if count < 0:
                raise ParseError(name, f"bad header: bad element count {tok[2]!r}", line=no)
            elements.append(PlyElement(tok[1], count))
        elif key == "property":
            if not elements:
                raise ParseError(name, "bad header: property before any element", line=no)
            if len(tok) == 3 and tok[1] in PLY_TYPES:
                elements[-1].properties.append(PlyProperty(tok[2], PLY_TYPES[tok[1]]))
            elif len(tok) == 5 and tok[1] == "list":
                if tok[2] not in PLY_TYPES or tok[3] not in PLY_TYPES:
                    raise ParseError(name, f"bad header: unknown type in {ln.strip()!r}", line=no)
                if PLY_TYPES[tok[2]][0] == "f":
                    raise ParseError(name, "bad header: list count type must be integer", line=no)
                elements[-1].properties.append(
                    PlyProperty(tok[4], PLY_TYPES[tok[3]], PLY_TYPES[tok[2]])
                )
            else:
                raise ParseError(name, f"bad header: malformed property {ln.strip()!r}", line=no)
        else:
            raise ParseError(name, f"bad header: unknown keyword {key!r}", line=no)
    if fmt is None:
        raise ParseError(name, "bad header: no 'format' line")
    return PlyHeader(fmt, elements, comments, obj_info, m.end(), len(lines) + 1)


def read_ply(data: bytes, name: str) -> PlyHeader:
    """Parse a whole PLY file (bytes) into its header with every element's data filled in."""
    header = parse_header(data, name)
    if header.format == "ascii":
        _read_ascii(data, header, name)
    else:
        _read_binary(data, header, name)
    return header


# ----------------------------------------------------------------------------------------- ascii
def _read_ascii(data: bytes, header: PlyHeader, name: str) -> None:
    try:
        body = data[header.data_start :].decode("ascii")
    except UnicodeDecodeError as e:
        raise ParseError(
            name, "non-ASCII byte in ASCII data", offset=header.data_start + e.start
        ) from None
    lines = body.splitlines()
    keep = [i for i, ln in enumerate(lines) if ln and not ln.isspace()]
    base = header.n_header_lines + 1  # line number of lines[0]
    pos = 0
    for el in header.elements:
        idx = keep[pos : pos + el.count]
        if len(idx) < el.count:
            last = base + (keep[-1] if keep else -1)
            raise ParseError(
                name,
                f"file ends after {len(idx)} of {el.count} '{el.name}' lines",
                line=max(last, header.n_header_lines),
            )
        pos += el.count
        el.first_line = base + idx[0] if idx else None
        el.line_nos = np.asarray(idx, dtype=np.int64) + base
        _ascii_element(el, [lines[i] for i in idx], np.asarray(idx) + base, name)
    if pos < len(keep):
        raise ParseError(name, "unexpected data after the last element", line=base + keep[pos])


def parse_numbers(
    rows: list[str], line_nos, name: str, message: Callable[[str], str]
) -> tuple[np.ndarray, np.ndarray]:
    """Float64 values of the whitespace-separated text rows and the count per row (see
    tokenize_lines); a ParseError at the first token that is not a number, worded message(token),
    with the row's line number from line_nos. Shared by the PLY and OFF readers."""
    tokens, counts = tokenize_lines(rows)
    try:
        return np.array(tokens, dtype=np.float64), counts
    except ValueError:
        for row, no in zip(rows, line_nos):
            for t in row.split():
                try:
                    float(t)
                except ValueError:
                    raise ParseError(name, message(t), line=int(no)) from None
        raise


def raise_first(bad: np.ndarray, name: str, lines, message: Callable[[int], str]) -> None:
    """ParseError(name, message(j), line=lines[j]) at the first row j where the bool array bad
    holds; nothing if it holds nowhere. Shared by the PLY and OFF readers."""
    hits = np.nonzero(bad)[0]
    if len(hits):
        j = int(hits[0])
        raise ParseError(name, message(j), line=int(lines[j]))


def _ascii_values(rows, line_nos, name, el) -> tuple[np.ndarray, np.ndarray]:
    return parse_numbers(rows, line_nos, name, lambda t: f"non-numeric value {t!r} in '{el.name}'")


def _check_int(vals: np.ndarray, where: np.ndarray, line_nos, name, what) -> None:
    raise_first(
        vals != np.round(vals),
        name,
        np.asarray(line_nos)[where],
        lambda j: f"{what} must be an integer; got {vals[j]}",
    )


def _check_range(vals: np.ndarray, dtype: str, where: np.ndarray, line_nos, name, what) -> None:
    """ParseError at the first value outside the range of the integer type `dtype`."""
    info = np.iinfo(dtype)
    raise_first(
        (vals < info.min) | (vals > info.max),
        name,
        np.asarray(line_nos)[where],
        lambda j: (
            f"{what} value {vals[j]:.0f} is out of range for its type "
            f"{np.dtype(dtype).name} [{info.min}, {info.max}]"
        ),
    )


def _ascii_element(el: PlyElement, rows, line_nos, name) -> None:
    n = len(rows)
    if n == 0:
        for p in el.properties:
            el.data[p.name] = (
                np.zeros(0, p.dtype) if p.count_dtype is None
                else (np.zeros(0, p.dtype), np.zeros(0, np.int64))
            )  # fmt: skip
        return
    vals, counts = _ascii_values(rows, line_nos, name, el)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    cursor = starts.copy()  # per row, where the next property's value sits
    rows_idx = np.arange(n)
    for p in el.properties:
        short = np.nonzero(cursor >= starts + counts)[0]
        if len(short):
            raise ParseError(
                name, f"too few values for '{el.name}' (missing {p.name!r})",
                line=int(line_nos[short[0]]),
            )  # fmt: skip
        if p.count_dtype is None:
            v = vals[cursor]
            if p.dtype[0] != "f":
                _check_int(v, rows_idx, line_nos, name, f"property {p.name!r}")
                _check_range(v, p.dtype, rows_idx, line_nos, name, f"property {p.name!r}")
            el.data[p.name] = v.astype(p.dtype)
            cursor = cursor + 1
        else:
            lens = vals[cursor]
            _check_int(lens, rows_idx, line_nos, name, f"list length of {p.name!r}")
            _check_range(
                lens, p.count_dtype, rows_idx, line_nos, name, f"list length of {p.name!r}"
            )
            lens = lens.astype(np.int64)
            raise_first(
                (lens < 0) | (cursor + 1 + lens > starts + counts),
                name,
                line_nos,
                lambda j, p=p, lens=lens: (
                    f"list {p.name!r} announces {lens[j]} values, fewer are on the line"
                ),
            )
            first = cursor + 1
            item_pos = np.repeat(first - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
            item_pos = item_pos + np.arange(int(lens.sum()))
            items = vals[item_pos]
            if p.dtype[0] != "f":
                item_rows = np.repeat(rows_idx, lens)
                _check_int(items, item_rows, line_nos, name, f"{p.name!r} item")
                _check_range(items, p.dtype, item_rows, line_nos, name, f"{p.name!r} item")
            el.data[p.name] = (items.astype(p.dtype), lens)
            cursor = first + lens
    extra = np.nonzero(cursor != starts + counts)[0]
    if len(extra):
        raise ParseError(
            name, f"too many values for '{el.name}' ({int(counts[extra[0]])} on the line)",
            line=int(line_nos[extra[0]]),
        )  # fmt: skip


# ---------------------------------------------------------------------------------------- binary
def _read_binary(data: bytes, header: PlyHeader, name: str) -> None:
    bo = "<" if header.format == "binary_little_endian" else ">"
    off = header.data_start
    for el in header.elements:
        el.offset = off
        off = _binary_element(el, data, off, bo, name)
    rest = data[off:]
    if rest.strip(b" \t\r\n\x00"):
        raise ParseError(name, f"unexpected {len(rest)} bytes after the last element", offset=off)


def _short(name: str, el: PlyElement, off: int, need: int, have: int) -> ParseError:
    return ParseError(
        name,
        f"file ends inside element '{el.name}' (needs {need} more bytes, {max(have, 0)} left)",
        offset=off,
    )


def min_record_size(el: PlyElement) -> int:
    """Bytes of the smallest possible binary record of `el` (every list empty)."""
    return sum(np.dtype(p.count_dtype or p.dtype).itemsize for p in el.properties)


def _binary_element(el: PlyElement, data: bytes, off: int, bo: str, name: str) -> int:
    n = el.count
    size = len(data)
    if not el.properties:
        return off  # records of no bytes: nothing to read, whatever the count
    smallest = min_record_size(el)
    if n * smallest > size - off:
        # checked before anything is allocated: a count cannot promise more than the file holds
        raise ParseError(
            name,
            f"element '{el.name}' announces {n} records of at least {smallest} bytes, "
            f"but only {max(size - off, 0)} bytes are left",
            offset=off,
        )
    # lengths of the lists in the first record decide the candidate fixed record layout
    fields, pos = [], off
    for i, p in enumerate(el.properties):
        if p.count_dtype is None:
            fields.append((f"p{i}", bo + p.dtype))
            pos += np.dtype(p.dtype).itemsize
        else:
            cdt = np.dtype(bo + p.count_dtype)
            if n == 0:
                k = 0
            else:
                if pos + cdt.itemsize > size:
                    raise _short(name, el, pos, cdt.itemsize, size - pos)
                k = int(np.frombuffer(data, cdt, 1, pos)[0])
                if k < 0:
                    raise ParseError(name, f"negative list length {k} in '{el.name}'", offset=pos)
                item = np.dtype(p.dtype).itemsize
                if pos + cdt.itemsize + k * item > size:
                    raise _short(name, el, pos + cdt.itemsize, k * item, size - pos - cdt.itemsize)
            fields.append((f"c{i}", cdt))
            if k:
                fields.append((f"p{i}", bo + p.dtype, (k,)))
            pos += cdt.itemsize + k * np.dtype(p.dtype).itemsize
    dt = np.dtype(fields)
    need = n * dt.itemsize
    has_list = any(p.count_dtype is not None for p in el.properties)
    if off + need <= size:
        rec = np.frombuffer(data, dt, n, off)
        uniform = True
        for i, p in enumerate(el.properties):
            if p.count_dtype is not None and n:
                c = rec[f"c{i}"]
                if (c != c[0]).any():
                    uniform = False
        if uniform:
            for i, p in enumerate(el.properties):
                if p.count_dtype is None:
                    el.data[p.name] = rec[f"p{i}"].astype(p.dtype)
                else:
                    k = int(rec[f"c{i}"][0]) if n else 0
                    items = rec[f"p{i}"].reshape(-1) if k else np.zeros(0, p.dtype)
                    el.data[p.name] = (items.astype(p.dtype), np.full(n, k, dtype=np.int64))
            el.record_size = dt.itemsize
            return off + need
    if not has_list:
        raise _short(name, el, off, need, size - off)
    if sum(p.count_dtype is not None for p in el.properties) == 1:
        return _binary_single_list(el, data, off, bo, name)
    return _binary_element_slow(el, data, off, bo, name)


def _gather(b: np.ndarray, pos: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Values of `dtype` stored at byte positions `pos` of the byte array `b`."""
    idx = pos[:, None] + np.arange(dtype.itemsize)[None, :]
    return np.ascontiguousarray(b[idx]).view(dtype).reshape(-1)


def _binary_single_list(el: PlyElement, data: bytes, off: int, bo: str, name: str) -> int:
    """Variable-size records with one list property: a light loop finds the record offsets,
    numpy gathers the values."""
    size, n = len(data), el.count
    li = next(i for i, p in enumerate(el.properties) if p.count_dtype is not None)
    lp = el.properties[li]
    cdt, idt = np.dtype(bo + lp.count_dtype), np.dtype(bo + lp.dtype)
    pre = sum(np.dtype(p.dtype).itemsize for p in el.properties[:li])
    post = sum(np.dtype(p.dtype).itemsize for p in el.properties[li + 1 :])
    csize, item = cdt.itemsize, idt.itemsize
    read_count = struct.Struct(bo + _STRUCT[cdt.kind + str(csize)]).unpack_from
    starts, ks = [0] * n, [0] * n
    pos = off
    for r in range(n):
        starts[r] = pos
        cpos = pos + pre
        if cpos + csize > size:
            raise _short(name, el, cpos, csize, size - cpos)
        k = read_count(data, cpos)[0]
        if k < 0:
            raise ParseError(name, f"negative list length {k} in '{el.name}'", offset=cpos)
        ks[r] = k
        pos = cpos + csize + k * item + post
        if pos > size:
            raise _short(name, el, cpos + csize, k * item + post, size - cpos - csize)
    b = np.frombuffer(data, dtype=np.uint8)
    st = np.asarray(starts, dtype=np.int64)
    kk = np.asarray(ks, dtype=np.int64)
    o = 0
    for p in el.properties[:li]:
        dt = np.dtype(bo + p.dtype)
        el.data[p.name] = _gather(b, st + o, dt).astype(p.dtype)
        o += dt.itemsize
    first = st + pre + csize
    total = int(kk.sum())
    before = np.concatenate([[0], np.cumsum(kk)[:-1]]).astype(np.int64)
    item_pos = np.repeat(first - before * item, kk) + np.arange(total, dtype=np.int64) * item
    el.data[lp.name] = (_gather(b, item_pos, idt).astype(lp.dtype), kk)
    o = 0
    for p in el.properties[li + 1 :]:
        dt = np.dtype(bo + p.dtype)
        el.data[p.name] = _gather(b, first + kk * item + o, dt).astype(p.dtype)
        o += dt.itemsize
    return pos


def _binary_element_slow(el: PlyElement, data: bytes, off: int, bo: str, name: str) -> int:
    """Record by record, for elements whose lists have different lengths."""
    size = len(data)
    cols: dict[str, list] = {p.name: [] for p in el.properties}
    lens: dict[str, list] = {p.name: [] for p in el.properties if p.count_dtype is not None}
    for _ in range(el.count):
        for p in el.properties:
            if p.count_dtype is None:
                dt = np.dtype(bo + p.dtype)
                if off + dt.itemsize > size:
                    raise _short(name, el, off, dt.itemsize, size - off)
                cols[p.name].append(np.frombuffer(data, dt, 1, off))
                off += dt.itemsize
            else:
                cdt = np.dtype(bo + p.count_dtype)
                if off + cdt.itemsize > size:
                    raise _short(name, el, off, cdt.itemsize, size - off)
                k = int(np.frombuffer(data, cdt, 1, off)[0])
                if k < 0:
                    raise ParseError(name, f"negative list length {k} in '{el.name}'", offset=off)
                off += cdt.itemsize
                dt = np.dtype(bo + p.dtype)
                if off + k * dt.itemsize > size:
                    raise _short(name, el, off, k * dt.itemsize, size - off)
                cols[p.name].append(np.frombuffer(data, dt, k, off))
                lens[p.name].append(k)
                off += k * dt.itemsize
    for p in el.properties:
        parts = cols[p.name]
        flat = np.concatenate(parts).astype(p.dtype) if parts else np.zeros(0, p.dtype)
        if p.count_dtype is None:
            el.data[p.name] = flat
        else:
            el.data[p.name] = (flat, np.asarray(lens[p.name], dtype=np.int64))
    return off
