"""Property test: random corruptions of valid OBJ / PLY (ASCII, binary LE and BE) / OFF / MTL
files, some with hostile numbers (counts of 2^32 or 2^64, int64-min indices, 1e39).

Every loader must either return consistent data (face, uv and normal indices inside their
ranges) or raise ValueError (our ParseError) / FileNotFoundError / IsADirectoryError; nothing
else may escape, nothing may hang, and no load may allocate much more than the file's size.

Allocation is measured with tracemalloc, which sees Python objects and numpy buffers (numpy
reports its allocations to it; torch tensors made here come from numpy with `from_numpy`). The
bound, 200 bytes per byte of file plus 256 kB, is loose for a parse (over 1500 mutations of each
file the largest peak was 40 kB, on a 138-byte OBJ; 15 kB for PLY, OFF and MTL files of 100-800
bytes) and tight against pre-allocation from an announced count: one count of 10^8 faces cost
1.6 GB before the fix.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import tracemalloc
import warnings

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from inverse3d.io.mtl_io import load_mtl  # noqa: E402
from inverse3d.io.obj_io import load_obj  # noqa: E402
from inverse3d.io.off_io import load_off, save_off  # noqa: E402
from inverse3d.io.pluggable import IO  # noqa: E402
from inverse3d.io.ply_io import _load_ply, _save_ply  # noqa: E402

ALLOWED = (ValueError, FileNotFoundError, IsADirectoryError)
TOKENS = [
    b"x", b"-1", b"0", b"1e999", b"nan", b"inf", b"999999", b"-999999", b"", b"1/2/3", b"//",
    b"\xff", b"4294967295", b"1.5", b"-0", b"f", b"v", b"vt", b"element", b"property", b"list",
    b"99999999999999999999999", b"end_header", b"OFF", b"usemtl", b"#", b"1e39", b"258",
    b"-9223372036854775808", b"9223372036854775807", b"18446744073709551616", b"100000000",
    b"1000000000", b"uchar", b"float", b"\\", b"newmtl", b"map_Kd",
]  # fmt: skip
ALLOC_PER_BYTE, ALLOC_CONST = 200, 256_000


def _obj() -> bytes:
    return (
        b"# test\nmtllib none.mtl\no thing\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\n"
        b"vt 0 0\nvt 1 0\nvt 1 1\nvn 0 0 1\ng a\nusemtl m\ns 1\n"
        b"f 1/1/1 2/2/1 3/3/1\nf 1//1 3//1 4//1 5//1\nf -1 -2 -3\nf 2/1 3/2 4/3\r\n"
    )


def _ply(mode: str) -> bytes:
    g = torch.Generator().manual_seed(3)
    buf = io.BytesIO()
    _save_ply(
        buf,
        verts=torch.rand(6, 3, generator=g),
        faces=torch.randint(0, 6, (5, 3), generator=g),
        verts_normals=torch.rand(6, 3, generator=g),
        verts_colors=torch.rand(6, 3, generator=g),
        ascii=mode == "ascii",
        big_endian=mode == "be",
        colors_as_uint8=mode == "be",
    )
    return buf.getvalue()


def _ply_mixed_polygons() -> bytes:
    header = (
        "ply\nformat binary_little_endian 1.0\nelement vertex 5\nproperty float x\n"
        "property float y\nproperty float z\nelement face 3\n"
        "property list uchar uint vertex_indices\nproperty uchar flag\nend_header\n"
    )
    body = b"".join(struct.pack("<3f", i, i * 2, i * 3) for i in range(5))
    for poly in ([0, 1, 2], [0, 1, 2, 3], [4, 3, 2, 1, 0]):
        body += struct.pack("<B%dIB" % len(poly), len(poly), *poly, 1)
    return header.encode() + body


def _mtl() -> bytes:
    return (
        b"# materials\nnewmtl a\nKa 0.1 0.2 0.3\nKd 0.4 0.5 0.6\nKs 0 0 0\nNs 10\nd 1\n"
        b"illum 2\nmap_Kd missing.png\nnewmtl b\nKd 1 1 1\n"
    )


def _off() -> bytes:
    buf = io.BytesIO()
    save_off(buf, torch.rand(5, 3), torch.randint(0, 5, (4, 3)), verts_colors=torch.rand(5, 3))
    return buf.getvalue()


@st.composite
def corrupted(draw, data: bytes) -> bytes:
    kind = draw(
        st.sampled_from(["truncate", "flip", "token", "delete", "duplicate", "insert", "int32"])
    )
    n_edits = draw(st.integers(1, 3))
    for _ in range(n_edits):
        if not data:
            break
        if kind == "truncate":
            data = data[: draw(st.integers(0, len(data) - 1))]
        elif kind == "flip":
            i = draw(st.integers(0, len(data) - 1))
            data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
        elif kind == "int32":  # a hostile 4-byte integer anywhere (binary counts and indices)
            i = draw(st.integers(0, max(len(data) - 4, 0)))
            value = draw(st.sampled_from([2**31 - 1, 2**32 - 1, 2**31, 10**9, 255, 256]))
            data = data[:i] + struct.pack("<I", value) + data[i + 4 :]
        elif kind == "insert":
            i = draw(st.integers(0, len(data)))
            data = data[:i] + draw(st.binary(min_size=1, max_size=6)) + data[i:]
        else:
            lines = data.split(b"\n")
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "delete":
                del lines[j]
            elif kind == "duplicate":
                lines.insert(j, lines[j])
            else:
                toks = lines[j].split(b" ")
                k = draw(st.integers(0, len(toks) - 1))
                toks[k] = draw(st.sampled_from(TOKENS))
                lines[j] = b" ".join(toks)
            data = b"\n".join(lines)
    return data


def _check_faces(faces: torch.Tensor, n_verts: int) -> None:
    if faces is not None and faces.numel():
        assert int(faces.min()) >= 0 and int(faces.max()) < n_verts


def _warm_up(loader, original: bytes) -> None:
    """Load the intact file once, so that lazy imports are not counted as allocation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loader(original)


def _run(loader, data: bytes) -> None:
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                loader(data)
            except ALLOWED:
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= ALLOC_PER_BYTE * len(data) + ALLOC_CONST, (peak, len(data))


def _check_optional(idx: torch.Tensor, n: int) -> None:
    """Indices in [0, n) or -1 (absent), row by row: a face has all or none."""
    if idx.numel():
        assert int(idx.min()) >= -1 and int(idx.max()) < n
        assert bool(((idx == -1).all(dim=1) | (idx >= 0).all(dim=1)).all())


def _obj_loader(data: bytes) -> None:
    verts, faces, aux = load_obj(io.BytesIO(data))
    _check_faces(faces.verts_idx, len(verts))
    _check_optional(faces.textures_idx, 0 if aux.verts_uvs is None else len(aux.verts_uvs))
    _check_optional(faces.normals_idx, 0 if aux.normals is None else len(aux.normals))
    assert faces.verts_idx.shape[0] == faces.materials_idx.shape[0]


def _ply_loader(data: bytes) -> None:
    out = _load_ply(io.BytesIO(data))
    _check_faces(out.faces, len(out.verts))


def _mtl_loader(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        colors, images = load_mtl(io.BytesIO(data), material_names=["a", "b"], data_dir=d)
    for props in colors.values():
        for value in props.values():
            assert isinstance(value, torch.Tensor)


def _off_loader(data: bytes) -> None:
    out = load_off(io.BytesIO(data))
    _check_faces(torch.as_tensor(out.get("faces", torch.zeros(0, 3))), len(out["verts"]))


def _io_loader(suffix: str):
    def load(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m" + suffix)
            with open(path, "wb") as fh:
                fh.write(data)
            mesh = IO().load_mesh(path)
            _check_faces(mesh.faces_packed(), len(mesh.verts_packed()))

    return load


def _settings(n: int):
    return settings(
        max_examples=n, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )  # fmt: skip


SETTINGS = _settings(200)
SLOW_SETTINGS = _settings(1500)

CASES = [
    ("obj", _obj(), _obj_loader),
    ("ply-ascii", _ply("ascii"), _ply_loader),
    ("ply-le", _ply("le"), _ply_loader),
    ("ply-be", _ply("be"), _ply_loader),
    ("ply-mixed", _ply_mixed_polygons(), _ply_loader),
    ("off", _off(), _off_loader),
    ("mtl", _mtl(), _mtl_loader),
]


class TestCorruptedFiles:
    def test_originals_load(self):
        for _, data, loader in CASES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # none.mtl / missing.png are absent on purpose
                loader(data)  # the uncorrupted files are valid

    @pytest.mark.parametrize("name,original,loader", CASES, ids=[c[0] for c in CASES])
    def test_only_value_errors(self, name, original, loader):
        @SETTINGS
        @given(corrupted(original))
        def check(data):
            _run(loader, data)

        _warm_up(loader, original)
        check()

    @pytest.mark.slow
    @pytest.mark.parametrize("name,original,loader", CASES, ids=[c[0] for c in CASES])
    def test_only_value_errors_long(self, name, original, loader):
        @SLOW_SETTINGS
        @given(corrupted(original))
        def check(data):
            _run(loader, data)

        _warm_up(loader, original)
        check()

    @pytest.mark.parametrize(
        "suffix,original", [(".obj", _obj()), (".ply", _ply("le")), (".off", _off())]
    )
    def test_io_facade(self, suffix, original):
        @settings(max_examples=15, deadline=None, derandomize=True)
        @given(corrupted(original))
        def check(data):
            _run(_io_loader(suffix), data)

        _warm_up(_io_loader(suffix), original)
        check()
