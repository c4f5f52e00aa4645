"""Losses on point clouds and meshes (PyTorch3D `loss` API)."""

from inverse3d.loss.chamfer import chamfer_distance
from inverse3d.loss.mesh_edge_loss import mesh_edge_loss
from inverse3d.loss.mesh_flatten import mesh_flatten_loss
from inverse3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
from inverse3d.loss.mesh_normal_consistency import mesh_normal_consistency
from inverse3d.loss.point_mesh_distance import point_mesh_edge_distance, point_mesh_face_distance
from inverse3d.loss.silhouette_iou import silhouette_iou_loss

__all__ = [
    "chamfer_distance",
    "mesh_edge_loss",
    "mesh_flatten_loss",
    "mesh_laplacian_smoothing",
    "mesh_normal_consistency",
    "point_mesh_edge_distance",
    "point_mesh_face_distance",
    "silhouette_iou_loss",
]
