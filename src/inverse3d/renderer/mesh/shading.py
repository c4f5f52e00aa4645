"""Per-fragment lighting: Phong (per pixel), Gouraud (per vertex) and flat (per face) shading.

All functions return colours (N, H, W, K, C) for the K faces at each pixel, lit in world space
with `lights`, the camera centre of `cameras` and `materials` (PyTorch3D semantics).
"""

from __future__ import annotations

import torch

from inverse3d.ops.interp_face_attrs import interpolate_face_attributes

__all__ = ["phong_shading", "gouraud_shading", "flat_shading"]


def _apply_lighting(points, normals, lights, cameras, materials):
    """Ambient, diffuse and specular colours at points (N, ..., 3) with normals (N, ..., 3)."""
    light_diffuse = lights.diffuse(normals=normals, points=points)
    light_specular = lights.specular(
        normals=normals,
        points=points,
        camera_position=cameras.get_camera_center(),
        shininess=materials.shininess,
    )
    ambient = materials.ambient_color * lights.ambient_color
    diffuse = materials.diffuse_color * light_diffuse
    specular = materials.specular_color * light_specular
    if normals.dim() == 2 and points.dim() == 2:
        return ambient.squeeze(), diffuse.squeeze(), specular.squeeze()
    if ambient.dim() != diffuse.dim():
        ambient = ambient[:, None, None, None, :]  # (N, C) -> (N, 1, 1, 1, C)
    return ambient, diffuse, specular


def phong_shading(meshes, fragments, lights, cameras, materials, texels) -> torch.Tensor:
    """Lighting evaluated per pixel with interpolated positions and vertex normals.

    Args:
        meshes: world-space Meshes (N meshes).
        fragments: Fragments with pix_to_face (N, H, W, K) and bary_coords (N, H, W, K, 3).
        lights, cameras, materials: batch size 1 or N.
        texels: (N, H, W, K, C) float surface colours.
    Returns:
        colors: (N, H, W, K, C) float, (ambient + diffuse) * texels + specular.
    """
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    normals = meshes.verts_normals_packed()
    pix_coords = interpolate_face_attributes(
        fragments.pix_to_face, fragments.bary_coords, verts[faces]
    )
    pix_normals = interpolate_face_attributes(
        fragments.pix_to_face, fragments.bary_coords, normals[faces]
    )
    ambient, diffuse, specular = _apply_lighting(
        pix_coords, pix_normals, lights, cameras, materials
    )
    return (ambient + diffuse) * texels + specular


def gouraud_shading(meshes, fragments, lights, cameras, materials) -> torch.Tensor:
    """Lighting evaluated at the vertices (colours from TexturesVertex) and interpolated.

    Returns colors: (N, H, W, K, C) float. Raises ValueError if the textures are not
    TexturesVertex.
    """
    from inverse3d.renderer.mesh.textures import TexturesVertex

    if not isinstance(meshes.textures, TexturesVertex):
        raise ValueError(
            "gouraud_shading needs meshes.textures to be TexturesVertex; "
            f"got {type(meshes.textures).__name__}"
        )
    faces = meshes.faces_packed()
    verts = meshes.verts_packed()
    normals = meshes.verts_normals_packed()
    colors = meshes.textures.verts_features_packed()
    if len(meshes) > 1:
        idx = meshes.verts_packed_to_mesh_idx()
        lights = lights.clone().gather_props(idx)
        cameras = cameras.clone().gather_props(idx)
        materials = materials.clone().gather_props(idx)
    ambient, diffuse, specular = _apply_lighting(verts, normals, lights, cameras, materials)
    shaded = colors * (ambient + diffuse) + specular  # (V, C)
    return interpolate_face_attributes(fragments.pix_to_face, fragments.bary_coords, shaded[faces])


def flat_shading(meshes, fragments, lights, cameras, materials, texels) -> torch.Tensor:
    """Lighting evaluated once per face (face centroid and face normal).

    Returns colors: (N, H, W, K, C) float, (ambient + diffuse) * texels + specular.
    """
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    face_normals = meshes.faces_normals_packed()
    face_coords = verts[faces].mean(dim=-2)  # (F, 3)
    empty = (fragments.pix_to_face < 0)[..., None]
    idx = fragments.pix_to_face.clamp_min(0)
    zero = torch.zeros((), dtype=face_coords.dtype, device=face_coords.device)
    pix_coords = torch.where(empty, zero, face_coords[idx])
    pix_normals = torch.where(empty, zero, face_normals[idx])
    ambient, diffuse, specular = _apply_lighting(
        pix_coords, pix_normals, lights, cameras, materials
    )
    return (ambient + diffuse) * texels + specular
