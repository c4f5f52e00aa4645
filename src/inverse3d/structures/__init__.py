"""Batched 3D data: meshes, point clouds and volumes with list / padded / packed views."""

from inverse3d.structures.meshes import Meshes, join_meshes_as_batch, join_meshes_as_scene
from inverse3d.structures.pointclouds import (
    Pointclouds,
    join_pointclouds_as_batch,
    join_pointclouds_as_scene,
)
from inverse3d.structures.scene import SceneData
from inverse3d.structures.utils import (
    list_to_packed,
    list_to_padded,
    packed_to_list,
    padded_to_list,
    padded_to_packed,
)
from inverse3d.structures.volumes import VolumeLocator, Volumes

__all__ = [
    "Meshes",
    "Pointclouds",
    "SceneData",
    "VolumeLocator",
    "Volumes",
    "join_meshes_as_batch",
    "join_meshes_as_scene",
    "join_pointclouds_as_batch",
    "join_pointclouds_as_scene",
    "list_to_packed",
    "list_to_padded",
    "packed_to_list",
    "padded_to_list",
    "padded_to_packed",
]
