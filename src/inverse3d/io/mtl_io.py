"""Wavefront .mtl material files, texture images and per-face texture atlases.

`load_mtl` reads Ka, Kd, Ks, Ns (and accepts d, illum, Ke, Ni, Tr, Tf and other map_* lines) into
PyTorch3D's material dict ``{name: {"ambient_color": (3,), "diffuse_color": (3,),
"specular_color": (3,), "shininess": (1,)}}`` and loads each referenced ``map_Kd`` image as a float
(H, W, 3) tensor in [0, 1]. A missing texture image warns and is skipped.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inverse3d.io.image_io import read_image
from inverse3d.io.utils import ParseError, decode_text, path_exists, read_bytes

__all__ = ["load_mtl", "make_mesh_texture_atlas", "make_material_atlas"]

MaterialProperties = dict[str, dict[str, torch.Tensor]]
TextureFiles = dict[str, str]
TextureImages = dict[str, torch.Tensor]

_COLOR_KEYS = {"Ka": "ambient_color", "Kd": "diffuse_color", "Ks": "specular_color"}
_SCALAR_KEYS = {"Ns", "d", "Tr", "Ni", "illum", "sharpness"}


def parse_mtl_text(text: str, name: str, device: Any = "cpu") -> tuple[dict, dict]:
    """Parse MTL text into (material properties, texture file names) keyed by material name."""
    props: dict[str, dict[str, torch.Tensor]] = {}
    texture_files: dict[str, str] = {}
    current: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if "#" in raw else raw.strip()
        if not line:
            continue
        tokens = line.split()
        key = tokens[0]
        if key == "newmtl":
            if len(tokens) < 2:
                raise ParseError(name, "newmtl without a material name", line=lineno)
            current = line[len("newmtl") :].strip()
            props[current] = {}
            continue
        if key in _COLOR_KEYS or key in _SCALAR_KEYS or key == "map_Kd":
            if current is None:
                raise ParseError(name, f"'{key}' before any 'newmtl'", line=lineno)
        if key in _COLOR_KEYS:
            if len(tokens) >= 2 and tokens[1] in ("spectral", "xyz"):
                continue  # other colour spaces: not supported, ignored
            vals = _floats(tokens[1:4], name, lineno, key)
            if len(vals) == 1:
                vals = vals * 3
            if len(vals) != 3:
                raise ParseError(name, f"'{key}' needs 3 values; got {len(vals)}", line=lineno)
            props[current][_COLOR_KEYS[key]] = torch.tensor(
                vals, dtype=torch.float32, device=device
            )
        elif key in _SCALAR_KEYS:
            vals = _floats(tokens[1:2], name, lineno, key)
            if len(vals) != 1:
                raise ParseError(name, f"'{key}' needs a value", line=lineno)
            if key == "Ns":
                props[current]["shininess"] = torch.tensor(vals, dtype=torch.float32, device=device)
        elif key == "map_Kd":
            # the file name is the last token (options like -s 1 1 1 may precede it); names with
            # spaces are kept whole when no option is given
            rest = line[len("map_Kd") :].strip()
            if not rest:
                raise ParseError(name, "map_Kd without a file name", line=lineno)
            texture_files[current] = tokens[-1] if rest.startswith("-") else rest
    return props, texture_files


def _floats(tokens: list[str], name: str, lineno: int, key: str) -> list[float]:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise ParseError(
            name, f"'{key}' has a non-numeric value in {' '.join(tokens)!r}", line=lineno
        ) from None


def _parse_mtl(
    f: Any, path_manager: Any = None, device: Any = "cpu"
) -> tuple[MaterialProperties, TextureFiles]:
    """PyTorch3D's name: (material properties, {material: texture file name}) of a .mtl file
    (path or file object), every material of the file."""
    data, name = read_bytes(f, path_manager)
    return parse_mtl_text(decode_text(data, name), name, device)


def _load_texture_images(
    material_names: list[str],
    data_dir: str,
    material_properties: MaterialProperties,
    texture_files: TextureFiles,
    path_manager: Any = None,
) -> tuple[MaterialProperties, TextureImages]:
    """PyTorch3D's name: keep the materials used by the OBJ (the file's only material when the
    OBJ has no ``usemtl``) and read their ``map_Kd`` images (H, W, 3) float32 in [0, 1].

    A missing image warns and is skipped (as PyTorch3D); an image that cannot be decoded raises
    `inverse3d.io.image_io.ImageError` naming it.
    """
    used = list(material_names)
    if not used and material_properties:
        if len(material_properties) > 1:
            raise ValueError("Multiple materials but no usemtl declarations in the obj file")
        used.append(next(iter(material_properties)))
    material_colors: dict = {}
    texture_images: dict = {}
    for mat in used:
        if mat in texture_files:
            path = os.path.join(data_dir, texture_files[mat])
            if path_exists(path, path_manager, file=True):
                texture_images[mat] = read_image(path, channels=3, path_manager=path_manager)
            else:
                warnings.warn(f"Texture file does not exist: {path}", stacklevel=3)
        if mat in material_properties:
            material_colors[mat] = material_properties[mat]
    return material_colors, texture_images


def load_mtl(
    f: Any,
    *,
    material_names: list[str],
    data_dir: str,
    device: Any = "cpu",
    path_manager: Any = None,
) -> tuple[dict, dict]:
    """Load the materials referenced by an OBJ from a .mtl file.

    Args:
        f: path or file object of the .mtl file.
        material_names: names used by the OBJ (only these are returned; when empty, the file's
            only material, and ValueError if it has several).
        data_dir: folder against which texture file names are resolved.
        device: device of the returned tensors.
        path_manager: optional iopath-style object (``open``, ``exists``) used for paths.

    Returns:
        material_colors: {name: {"ambient_color": (3,), "diffuse_color": (3,),
            "specular_color": (3,), "shininess": (1,)}} (keys present in the file only).
        texture_images: {name: (H, W, 3) float32 in [0, 1]} for each map_Kd found (read with
            `inverse3d.io.image_io.read_image`; an undecodable image raises its ImageError).
    """
    props, texture_files = _parse_mtl(f, path_manager, device)
    colors, images = _load_texture_images(
        material_names, data_dir, props, texture_files, path_manager=path_manager
    )
    return colors, {k: v.to(device) for k, v in images.items()}


def make_material_atlas(
    image: torch.Tensor, faces_verts_uvs: torch.Tensor, texture_size: int
) -> torch.Tensor:
    """Sample an R x R texture per face from one image (SoftRas / PyTorch3D layout).

    Args:
        image: (H, W, C) float, already flipped so that row 0 is v = 0.
        faces_verts_uvs: (F, 3, 2) float uv of each face corner, in [0, 1].
        texture_size: R.

    Returns:
        atlas: (F, R, R, C) float. Cell (y, x) holds the colour at the barycentric centroid of the
        sub-triangle it maps to: w0 = (x + 1/3) / R, w1 = (y + 1/3) / R below the diagonal
        (x + y < R), w0 = (R - 1 - x + 2/3) / R, w1 = (R - 1 - y + 2/3) / R above it.
    """
    R = texture_size
    dev = faces_verts_uvs.device
    rng = torch.arange(R, device=dev, dtype=torch.float32)
    gy, gx = torch.meshgrid(rng, rng, indexing="ij")  # (R, R) each
    below = (gx + gy) < R
    w0 = torch.where(below, (gx + 1.0 / 3.0) / R, (R - 1.0 - gx + 2.0 / 3.0) / R)
    w1 = torch.where(below, (gy + 1.0 / 3.0) / R, (R - 1.0 - gy + 2.0 / 3.0) / R)
    bary = torch.stack([w0, w1, 1.0 - w0 - w1], dim=-1).to(faces_verts_uvs.dtype)  # (R, R, 3)
    uv = (faces_verts_uvs[:, None, None] * bary[None, ..., None]).sum(-2)  # (F, R, R, 2)
    if uv.shape[0] == 0:
        return image.new_zeros((0, R, R, image.shape[-1]))
    # align_corners=True: u = 0 is the centre of column 0, u = 1 the centre of column W - 1
    grid = uv * 2.0 - 1.0
    img = image.permute(2, 0, 1)[None].to(uv.dtype)  # (1, C, H, W)
    out = F.grid_sample(
        img,
        grid.reshape(1, -1, R, 2),
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )  # (1, C, F * R, R)
    return out[0].permute(1, 2, 0).reshape(-1, R, R, image.shape[-1])


def make_mesh_texture_atlas(
    material_properties: dict,
    texture_images: dict,
    face_material_names: np.ndarray,
    faces_uvs: torch.Tensor,
    verts_uvs: torch.Tensor | None,
    texture_size: int,
    texture_wrap: str | None,
) -> torch.Tensor:
    """A per-face (F, R, R, 3) atlas: white, the material's Kd, or sampled from its map_Kd.

    Args:
        material_properties: as returned by `load_mtl`.
        texture_images: {name: (H, W, 3) float}.
        face_material_names: (F,) str array, "" for faces without material.
        faces_uvs: (F, 3) int64 uv index per face corner, -1 when absent.
        verts_uvs: (T, 2) float or None.
        texture_size: R.
        texture_wrap: "repeat" (keep the fractional part of uvs outside [0, 1], with a warning),
            "clamp" (clamp to [0, 1]) or None.
    """
    R = texture_size
    n_faces = faces_uvs.shape[0]
    dev = faces_uvs.device
    atlas = torch.ones((n_faces, R, R, 3), dtype=torch.float32, device=dev)
    if not material_properties and not texture_images:
        return atlas
    if verts_uvs is None or verts_uvs.shape[0] == 0:
        faces_verts_uvs = torch.zeros((n_faces, 3, 2), dtype=torch.float32, device=dev)
    else:
        faces_verts_uvs = verts_uvs[faces_uvs.clamp(min=0)]  # (F, 3, 2)
        faces_verts_uvs[faces_uvs < 0] = 0.0
    if texture_wrap == "repeat":
        if bool(((faces_verts_uvs > 1) | (faces_verts_uvs < 0)).any()):
            warnings.warn(
                "Texture UV coordinates outside the range [0, 1]; the integer part is ignored "
                "to form a repeating pattern.",
                stacklevel=3,
            )
            faces_verts_uvs = faces_verts_uvs % 1
    elif texture_wrap == "clamp":
        faces_verts_uvs = faces_verts_uvs.clamp(0.0, 1.0)
    for mat, props in material_properties.items():
        sel = torch.from_numpy(face_material_names == mat).to(dev)
        if "diffuse_color" in props and bool(sel.any()):
            atlas[sel] = props["diffuse_color"].to(dev, torch.float32)
    for mat, image in texture_images.items():
        sel = torch.from_numpy(face_material_names == mat).to(dev)
        if not bool(sel.any()):
            continue
        image = torch.flip(image[..., :3], [0]).to(dev, torch.float32)
        atlas[sel] = make_material_atlas(image, faces_verts_uvs[sel], R)
    return atlas


def _bilinear_interpolation_vectorized(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """PyTorch3D's name: bilinear samples of `image` at uv positions, by explicit indexing.

    Args:
        image: (H, W, D) float.
        grid: (N, R, R, 2) float uv in [0, 1]; u runs along the width, v along the height,
            0 and 1 being the centres of the first and last pixels.

    Returns:
        (N, R, R, D): the same values as `_bilinear_interpolation_grid_sample` for uv in
        [0, 1] (indices are clamped at the border, where the clamped pixel has weight 0).
    """
    H, W, _ = image.shape
    pos = grid * torch.tensor([W - 1, H - 1], dtype=grid.dtype, device=grid.device)
    base = pos.floor()
    frac = pos - base  # (N, R, R, 2)
    x0 = base[..., 0].long().clamp(0, W - 1)
    y0 = base[..., 1].long().clamp(0, H - 1)
    x1 = (x0 + 1).clamp(max=W - 1)
    y1 = (y0 + 1).clamp(max=H - 1)
    fx, fy = frac[..., 0:1], frac[..., 1:2]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _bilinear_interpolation_grid_sample(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """PyTorch3D's name: bilinear samples of `image` (H, W, D) at the uv positions `grid`
    (N, R, R, 2) in [0, 1] with `torch.nn.functional.grid_sample` (align_corners=True, zero
    padding outside); returns (N, R, R, D)."""
    n = grid.shape[0]
    img = image.permute(2, 0, 1)[None].expand(n, -1, -1, -1)  # (N, D, H, W)
    out = F.grid_sample(img, grid * 2.0 - 1.0, mode="bilinear", align_corners=True)
    return out.permute(0, 2, 3, 1)
