"""Geometry ops: nearest neighbours, sampling, mesh and point cloud operations.

As in PyTorch3D, marching cubes is imported from its module:
`from inverse3d.ops.marching_cubes import marching_cubes` (so `inverse3d.ops.marching_cubes` stays
the module).
"""

from inverse3d.ops.ball_query import ball_query
from inverse3d.ops.cubify import cubify
from inverse3d.ops.graph_conv import GraphConv
from inverse3d.ops.interp_face_attrs import interpolate_face_attributes
from inverse3d.ops.iou_box3d import box3d_overlap
from inverse3d.ops.knn import knn_gather, knn_points
from inverse3d.ops.laplacian_matrices import cot_laplacian, laplacian, norm_laplacian
from inverse3d.ops.mesh_face_areas_normals import mesh_face_areas_normals
from inverse3d.ops.mesh_filtering import taubin_smoothing
from inverse3d.ops.mesh_sdf import mesh_sdf, point_triangle_distance, winding_number
from inverse3d.ops.packed_to_padded import packed_to_padded, padded_to_packed
from inverse3d.ops.perspective_n_points import efficient_pnp
from inverse3d.ops.points_alignment import corresponding_points_alignment, iterative_closest_point
from inverse3d.ops.points_normals import (
    estimate_pointcloud_local_coord_frames,
    estimate_pointcloud_normals,
)
from inverse3d.ops.points_to_volumes import (
    add_pointclouds_to_volumes,
    add_points_features_to_volume_densities_features,
)
from inverse3d.ops.sample_farthest_points import sample_farthest_points
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes
from inverse3d.ops.subdivide_meshes import SubdivideMeshes
from inverse3d.ops.utils import convert_pointclouds_to_tensor, eyes, is_pointclouds, wmean
from inverse3d.ops.vert_align import vert_align
from inverse3d.ops.visual_hull import visual_hull, visual_hull_grid_points

__all__ = [
    "GraphConv",
    "SubdivideMeshes",
    "add_pointclouds_to_volumes",
    "add_points_features_to_volume_densities_features",
    "ball_query",
    "box3d_overlap",
    "convert_pointclouds_to_tensor",
    "corresponding_points_alignment",
    "cot_laplacian",
    "cubify",
    "efficient_pnp",
    "estimate_pointcloud_local_coord_frames",
    "estimate_pointcloud_normals",
    "eyes",
    "interpolate_face_attributes",
    "is_pointclouds",
    "iterative_closest_point",
    "knn_gather",
    "knn_points",
    "laplacian",
    "mesh_face_areas_normals",
    "mesh_sdf",
    "norm_laplacian",
    "packed_to_padded",
    "padded_to_packed",
    "point_triangle_distance",
    "sample_farthest_points",
    "sample_points_from_meshes",
    "taubin_smoothing",
    "vert_align",
    "visual_hull",
    "visual_hull_grid_points",
    "wmean",
    "winding_number",
]
