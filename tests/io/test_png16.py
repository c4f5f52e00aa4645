"""16-bit PNGs: write_png and read_image keep all 16 bits of RGB / RGBA samples (Pillow alone
decodes them to 8 bits), for every PNG row filter."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from inverse3d.io.image_io import ImageError, read_image, read_image_array, write_png


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def encode_filtered(arr: np.ndarray, filters: list[int]) -> bytes:
    """A reference 16-bit PNG encoder applying the given filter type to each row."""
    h, w, c = arr.shape
    bpp = 2 * c
    rows = arr.astype(">u2").reshape(h, -1).view(np.uint8).astype(np.int32)
    out = []
    for y in range(h):
        line = rows[y]
        prev = rows[y - 1] if y else np.zeros_like(line)
        left = np.concatenate([np.zeros(bpp, np.int32), line[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        f = filters[y % len(filters)]
        pred = [0, left, prev, (left + prev) // 2, paeth(left, prev, upleft)][f]
        out.append(bytes([f]) + ((line - pred) & 0xFF).astype(np.uint8).tobytes())

    def chunk(k, d):
        return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    idat = zlib.compress(b"".join(out))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def pixels():
    g = np.random.default_rng(0)
    return g.integers(0, 65536, size=(7, 9, 3), dtype=np.uint16)


@pytest.mark.parametrize("channels", [3, 4])
def test_all_filters_round_trip(tmp_path, channels):
    g = np.random.default_rng(channels)
    arr = g.integers(0, 65536, size=(10, 6, channels), dtype=np.uint16)
    p = tmp_path / "f.png"
    p.write_bytes(encode_filtered(arr, [0, 1, 2, 3, 4]))
    got = read_image_array(p)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, arr)
    # Pillow, an independent decoder, agrees on the high bytes
    with Image.open(p) as im:
        np.testing.assert_array_equal(np.asarray(im)[..., :3], (arr[..., :3] >> 8).astype(np.uint8))


def test_write_png_16_and_8(tmp_path, pixels):
    write_png(tmp_path / "a.png", pixels)
    np.testing.assert_array_equal(read_image_array(tmp_path / "a.png"), pixels)
    f = read_image(tmp_path / "a.png")
    np.testing.assert_allclose(f.numpy(), pixels / 65535.0, rtol=1e-6)
    grey = pixels[..., 0]
    write_png(tmp_path / "g.png", grey)
    np.testing.assert_array_equal(read_image_array(tmp_path / "g.png")[..., 0], grey)
    low = (pixels >> 8).astype(np.uint8)
    write_png(tmp_path / "b.png", low)
    with Image.open(tmp_path / "b.png") as im:
        np.testing.assert_array_equal(np.asarray(im), low)


def test_errors(tmp_path, pixels):
    with pytest.raises(TypeError, match="uint8 or uint16"):
        write_png(tmp_path / "x.png", pixels.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        write_png(tmp_path / "x.png", np.zeros((2, 2, 5), np.uint8))
    data = encode_filtered(pixels, [1])
    # a truncated data stream (valid chunk CRCs) is reported with the file's name
    ihdr_end = 8 + 25
    (n,) = struct.unpack(">I", data[ihdr_end : ihdr_end + 4])
    short = zlib.compress(zlib.decompress(data[ihdr_end + 8 : ihdr_end + 8 + n])[:20])
    crc = struct.pack(">I", zlib.crc32(b"IDAT" + short) & 0xFFFFFFFF)
    bad = data[:ihdr_end] + struct.pack(">I", len(short)) + b"IDAT" + short + crc + data[-12:]
    (tmp_path / "t.png").write_bytes(bad)
    with pytest.raises(ImageError, match="t.png"):
        read_image_array(tmp_path / "t.png")
