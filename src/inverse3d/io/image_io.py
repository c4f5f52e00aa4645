"""The one image reader of the library: texture maps (``map_Kd``, PLY ``TextureFile``) and the
images, masks and alpha channels of the dataset readers all go through `read_image`.

Any decoder failure (truncated or corrupt file, unknown format, a header announcing more pixels
than `MAX_IMAGE_PIXELS`) becomes an `ImageError`, a `ParseError` naming the file. The pixel
limit is checked on the header, before any pixel is decoded, so a 200-byte PNG announcing
20000 x 20000 pixels costs nothing.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from typing import Any

import numpy as np
import torch

from inverse3d.io.utils import ParseError, PathOrStr, file_name, is_path

__all__ = [
    "MAX_IMAGE_PIXELS",
    "ImageError",
    "convert_channels",
    "read_image",
    "read_image_array",
    "write_png",
]

#: Default largest number of pixels (H * W) `read_image` decodes: 2^28 (16384 x 16384).
MAX_IMAGE_PIXELS = 2**28

_MODES = ("float", "raw")


class ImageError(ParseError):
    """An image file that cannot be decoded, or larger than the pixel limit."""


def _open_bytes(path: Any, path_manager: Any) -> tuple[bytes, str]:
    name = file_name(path)
    if is_path(path):
        p = os.fspath(path)
        if path_manager is not None:
            with path_manager.open(p, "rb") as fh:
                return fh.read(), name
        if os.path.isdir(p):
            raise IsADirectoryError(f"{p} is a directory, expected an image file")
        if not os.path.exists(p):
            raise FileNotFoundError(f"No such image file: {p}")
        with open(p, "rb") as fh:
            return fh.read(), name
    if not hasattr(path, "read"):
        raise TypeError(f"path must be a path or a binary file object; got {type(path).__name__}")
    data = path.read()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("path must be opened in binary mode to read an image")
    return bytes(data), name


def _decode(data: bytes, name: str, max_pixels: int | None):
    """Open with Pillow, check the size on the header, then decode; (PIL image, mode)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # our own limit replaces Pillow's bomb check (warning or error at ~89M / 179M px)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            old = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                img = Image.open(io.BytesIO(data))
                w, h = img.size
                if max_pixels is not None and w * h > max_pixels:
                    raise ImageError(
                        name,
                        f"image of {w}x{h} (WxH) pixels exceeds the limit of {max_pixels} "
                        "pixels (max_pixels)",
                    )
                img.load()
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(name, "not enough memory to decode the image") from None
    except Exception as e:  # Pillow raises OSError, ValueError, SyntaxError, struct.error, ...
        raise ImageError(name, f"unreadable image ({type(e).__name__}: {e})") from None
    return img


def _to_array(img, name: str) -> np.ndarray:
    """(H, W, C) uint8 or uint16 array with C in 1 (grey), 2 (grey + alpha), 3 (RGB), 4 (RGBA)."""
    mode = img.mode
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA" if ("transparency" in img.info or mode == "PA") else "RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        img = img.convert("RGB")
    elif mode in ("RGBa", "La"):
        img = img.convert("RGBA" if mode == "RGBa" else "LA")
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr = np.asarray(img).astype(np.uint16)
    elif mode == "I":
        a = np.asarray(img)
        if a.size and (int(a.min()) < 0 or int(a.max()) > 65535):
            raise ImageError(name, "32-bit integer image with values outside [0, 65535]")
        arr = a.astype(np.uint16)
    elif mode == "F":
        raise ImageError(name, "floating-point images are not supported (mode 'F')")
    elif mode in ("L", "LA", "RGB", "RGBA"):
        arr = np.asarray(img, dtype=np.uint8)
    else:
        try:
            arr = np.asarray(img.convert("RGBA" if "A" in mode else "RGB"), dtype=np.uint8)
        except Exception as e:
            raise ImageError(name, f"unsupported image mode {mode!r} ({e})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)


def read_image_array(
    path: PathOrStr | Any,
    *,
    max_pixels: int | None = MAX_IMAGE_PIXELS,
    path_manager: Any = None,
) -> np.ndarray:
    """The raw pixels of an image file: (H, W, C) uint8 (8-bit files) or uint16 (16-bit files),
    C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA); palette images are expanded.

    Raises ImageError (a ParseError / ValueError naming the file) for anything the decoder
    rejects or an image of more than `max_pixels` pixels; FileNotFoundError, IsADirectoryError.
    """
    if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels < 1):
        raise ValueError(f"max_pixels must be a positive int or None; got {max_pixels!r}")
    data, name = _open_bytes(path, path_manager)
    img = _decode(data, name, max_pixels)
    if _is_png16_color(data):
        # Pillow decodes 16-bit RGB(A) PNGs to 8 bits per channel: decode the samples ourselves
        return _decode_png16_color(data, name)
    return _to_array(img, name)


def read_image(
    path: PathOrStr | Any,
    *,
    channels: int | None = None,
    raw: bool = False,
    max_pixels: int | None = MAX_IMAGE_PIXELS,
    path_manager: Any = None,
) -> torch.Tensor:
    """Read an image file (PNG, JPEG, ... anything Pillow decodes) as a tensor.

    Args:
        path: path (str / os.PathLike) or binary file object.
        channels: None keeps the file's channels (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA);
            3 gives RGB (grey repeated, alpha dropped); 4 gives RGBA (opaque alpha added);
            1 gives grey (ITU-R 601 luma of RGB, alpha dropped).
        raw: return the stored integers (uint8, or int32 holding the uint16 values of a 16-bit
            file, as torch has no uint16 arithmetic) instead of floats.
        max_pixels: largest H * W decoded (default `MAX_IMAGE_PIXELS` = 2^28); None: no limit.
        path_manager: optional object with ``open(path, mode)`` used to open paths.

    Returns:
        (H, W, C) float32 in [0, 1] (8-bit values / 255, 16-bit values / 65535), or the raw
        integers when `raw`.

    Raises:
        ImageError (ParseError, ValueError) naming the file for any decoding failure or an
        image over the pixel limit; FileNotFoundError; IsADirectoryError.
    """
    if channels not in (None, 1, 3, 4):
        raise ValueError(f"channels must be None, 1, 3 or 4; got {channels!r}")
    arr = read_image_array(path, max_pixels=max_pixels, path_manager=path_manager)
    if channels is not None:
        arr = convert_channels(arr, channels)
    if raw:
        if arr.dtype == np.uint16:
            return torch.from_numpy(arr.astype(np.int32))
        return torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    return torch.from_numpy(arr.astype(np.float32) / np.float32(scale))


def convert_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, C) integer pixels (as from `read_image_array`) to `channels` channels: 1 grey
    (Pillow's ITU-R 601 luma of RGB), 3 RGB (grey repeated), 4 RGBA (opaque alpha added)."""
    c = arr.shape[2]
    color = arr[..., :1] if c <= 2 else arr[..., :3]
    if channels == 1:
        if c <= 2:
            return color
        # ITU-R 601 luma in Pillow's fixed-point form (the same values as its "L" conversion)
        c64 = color.astype(np.int64)
        grey = (c64[..., 0] * 19595 + c64[..., 1] * 38470 + c64[..., 2] * 7471 + 0x8000) >> 16
        return grey[..., None].astype(arr.dtype)
    rgb = np.repeat(color, 3, axis=2) if c <= 2 else color
    if channels == 3:
        return np.ascontiguousarray(rgb)
    alpha = arr[..., -1:] if c in (2, 4) else np.full_like(arr[..., :1], np.iinfo(arr.dtype).max)
    return np.concatenate([rgb, alpha], axis=2)


# ----------------------------------------------------------------------------- 16-bit PNG
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _is_png16_color(data: bytes) -> bool:
    """A PNG whose IHDR says 16 bits per sample, colour type 2 (RGB) or 6 (RGBA)."""
    return (
        len(data) >= 33
        and data[:8] == _PNG_SIG
        and data[12:16] == b"IHDR"
        and data[24] == 16
        and data[25] in (2, 6)
    )


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _decode_png16_color(data: bytes, name: str) -> np.ndarray:
    """(H, W, 3 or 4) uint16 samples of a non-interlaced 16-bit RGB / RGBA PNG (Pillow has
    already checked the file's chunks and CRCs and the pixel limit)."""
    w, h = struct.unpack(">II", data[16:24])
    channels = 3 if data[25] == 2 else 4
    if data[28] != 0:
        raise ImageError(name, "interlaced 16-bit colour PNGs are not supported")
    pos, idat = 8, []
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat.append(data[pos + 8 : pos + 8 + length])
        if kind == b"IEND":
            break
        pos += 12 + length
    bpp = 2 * channels  # bytes per pixel
    stride = w * bpp
    expected = h * (stride + 1)
    d = zlib.decompressobj()
    try:
        raw = d.decompress(b"".join(idat), expected)
    except zlib.error as e:
        raise ImageError(name, f"corrupt image data ({e})") from None
    if len(raw) < expected:
        raise ImageError(name, f"truncated image data ({len(raw)} of {expected} bytes)")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(h, stride + 1)
    out = np.zeros((h, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        ftype, line = int(rows[y, 0]), rows[y, 1:].astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 2:  # Up
            cur = (line + prev) & 0xFF
        elif ftype == 1:  # Sub: running sum over pixels, per byte of the pixel
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) & 0xFF
        elif ftype in (3, 4):  # Average, Paeth: sequential over pixels
            cur = line.copy()
            px = cur.reshape(w, bpp)
            up = prev.reshape(w, bpp)
            zero = np.zeros(bpp, dtype=np.int32)
            for x in range(w):
                left = px[x - 1] if x else zero
                if ftype == 3:
                    pred = (left + up[x]) >> 1
                else:
                    pred = _paeth(left, up[x], up[x - 1] if x else zero)
                px[x] = (px[x] + pred) & 0xFF
        else:
            raise ImageError(name, f"unknown PNG filter type {ftype} in row {y}")
        out[y] = cur
        prev = cur
    b = out.astype(np.uint16).reshape(h, w, channels, 2)
    return np.ascontiguousarray((b[..., 0] << 8) | b[..., 1])


def write_png(path: str | os.PathLike, pixels: np.ndarray) -> None:
    """Write (H, W) or (H, W, C) uint8 or uint16 pixels (C = 1 grey, 2 grey + alpha, 3 RGB,
    4 RGBA) as a PNG of 8 or 16 bits per sample (Pillow writes no 16-bit colour PNGs: those are
    encoded here, unfiltered, zlib-compressed)."""
    arr = np.asarray(pixels)
    if arr.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"pixels must be uint8 or uint16; got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or 0 in arr.shape[:2]:
        raise ValueError(f"pixels must have shape (H, W) or (H, W, 1..4); got {arr.shape}")
    h, w, c = arr.shape
    depth = 8 if arr.dtype == np.uint8 else 16
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    body = arr.astype(">u2") if depth == 16 else arr
    raw = np.concatenate(
        [np.zeros((h, 1), dtype=np.uint8), body.reshape(h, -1).view(np.uint8)], axis=1
    ).tobytes()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    png = _PNG_SIG + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6))
    with open(os.fspath(path), "wb") as fh:
        fh.write(png + chunk(b"IEND", b""))
