"""inverse3d.io.image_io.read_image: values, channels, bit depths and hostile files."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from inverse3d.io import load_obj
from inverse3d.io.image_io import MAX_IMAGE_PIXELS, ImageError, read_image, read_image_array
from inverse3d.io.utils import ParseError


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(w: int, h: int) -> bytes:
    """A tiny PNG whose IHDR announces w x h RGB pixels (one empty IDAT chunk)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def _save(path, arr, mode=None):
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


class TestReadImage:
    def test_matches_reference(self, tmp_path):
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
        out = read_image(_save(tmp_path / "a.png", rgb))
        assert out.dtype == torch.float32 and out.shape == (5, 7, 3)
        np.testing.assert_array_equal(out.numpy(), rgb.astype(np.float32) / 255)
        assert torch.equal(read_image(tmp_path / "a.png", raw=True), torch.from_numpy(rgb))

    def test_grey_rgba_and_channels(self, tmp_path):
        rng = np.random.default_rng(1)
        grey = rng.integers(0, 256, (4, 6), dtype=np.uint8)
        rgba = rng.integers(0, 256, (4, 6, 4), dtype=np.uint8)
        g = read_image(_save(tmp_path / "g.png", grey))
        assert g.shape == (4, 6, 1)
        assert torch.equal(read_image(tmp_path / "g.png", channels=3), g.expand(-1, -1, 3))
        a = read_image(_save(tmp_path / "a.png", rgba))
        assert a.shape == (4, 6, 4)
        np.testing.assert_array_equal(a.numpy(), rgba / np.float32(255))
        assert torch.equal(read_image(tmp_path / "a.png", channels=3), a[..., :3])
        # grey of RGB: Pillow's own "L" conversion is the reference
        want = np.asarray(Image.fromarray(rgba[..., :3]).convert("L"), dtype=np.float32) / 255
        np.testing.assert_array_equal(read_image(tmp_path / "a.png", channels=1)[..., 0], want)
        opaque = read_image(tmp_path / "g.png", channels=4)
        assert torch.equal(opaque[..., 3], torch.ones(4, 6))

    def test_16_bit(self, tmp_path):
        vals = np.array([[0, 1, 255, 256], [1000, 30000, 65534, 65535]], dtype=np.uint16)
        p = tmp_path / "d.png"
        Image.fromarray(vals).save(p)
        assert read_image_array(p).dtype == np.uint16
        out = read_image(p)
        np.testing.assert_allclose(out[..., 0].numpy(), vals / 65535.0, rtol=1e-6)
        assert read_image(p, raw=True)[..., 0].tolist() == vals.tolist()

    def test_palette(self, tmp_path):
        img = Image.new("P", (3, 2))
        img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
        img.putpixel((1, 0), 1)
        img.save(tmp_path / "p.png")
        out = read_image(tmp_path / "p.png")
        assert out.shape == (2, 3, 3)
        assert out[0, 0].tolist() == [1, 0, 0] and out[0, 1].tolist() == [0, 1, 0]

    def test_file_object(self, tmp_path):
        rgb = np.full((2, 2, 3), 128, dtype=np.uint8)
        data = (_save(tmp_path / "a.png", rgb)).read_bytes()
        assert torch.equal(read_image(io.BytesIO(data)), read_image(tmp_path / "a.png"))

    def test_exceptions(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            read_image(tmp_path / "none.png")
        with pytest.raises(IsADirectoryError):
            read_image(tmp_path)
        with pytest.raises(ValueError, match="channels"):
            read_image(tmp_path / "x.png", channels=2)
        with pytest.raises(ValueError, match="max_pixels"):
            read_image(tmp_path / "x.png", max_pixels=0)


class TestHostileImages:
    """Issue 13 item 5: decoder errors become ImageError (a ParseError) naming the file."""

    def test_pixel_limit_checked_on_the_header(self, tmp_path):
        p = tmp_path / "bomb.png"
        p.write_bytes(_png_header_only(20000, 20000))  # 4e8 pixels announced, ~70 bytes
        assert 20000 * 20000 > MAX_IMAGE_PIXELS
        with pytest.raises(ImageError, match=f"{p}: .*20000x20000.*exceeds the limit"):
            read_image(p)
        with pytest.raises(ImageError, match="exceeds the limit of 100 pixels"):
            read_image(_save(tmp_path / "s.png", np.zeros((10, 11), np.uint8)), max_pixels=100)
        assert read_image(tmp_path / "s.png", max_pixels=110).shape == (10, 11, 1)

    def test_over_pillows_own_limit_but_under_ours(self, tmp_path):
        # Pillow alone raises DecompressionBombError above 2 x 89.5M pixels; ours decides
        p = tmp_path / "big.png"
        p.write_bytes(_png_header_only(20000, 10000))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ImageError, match=str(p)):  # the IDAT is empty: truncated data
                read_image(p, max_pixels=None)

    @pytest.mark.parametrize(
        "data",
        [
            b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR\x00\x00",  # truncated IHDR
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,  # broken chunk structure
            _png_header_only(4, 4)[:-20],  # cut inside the data
            b"not an image at all",
            b"",
        ],
    )
    def test_broken_files_name_the_file(self, tmp_path, data):
        p = tmp_path / "broken.png"
        p.write_bytes(data)
        with pytest.raises(ImageError, match=f"^{p}: ") as e:
            read_image(p)
        assert isinstance(e.value, ParseError) and isinstance(e.value, ValueError)

    def test_texture_bomb_in_mtl(self, tmp_path):
        (tmp_path / "bomb.png").write_bytes(_png_header_only(20000, 20000))
        (tmp_path / "m.mtl").write_text("newmtl a\nmap_Kd bomb.png\n")
        (tmp_path / "m.obj").write_text(
            "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nusemtl a\nf 1/1 2/1 3/1\n"
        )
        with pytest.raises(ImageError, match="bomb.png.*exceeds the limit"):
            load_obj(tmp_path / "m.obj")
        verts, _, aux = load_obj(tmp_path / "m.obj", load_textures=False)
        assert verts.shape == (3, 3) and aux.texture_images is None

    def test_dataset_reader(self, tmp_path):
        from inverse3d.datasets._common import read_mask, read_rgba

        p = tmp_path / "bomb.png"
        p.write_bytes(_png_header_only(20000, 20000))
        for reader in (read_rgba, read_mask):
            with pytest.raises(ValueError, match=f"{p}: .*exceeds the limit"):
                reader(p)
