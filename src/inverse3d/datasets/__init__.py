"""Posed-image scenes: the built-in synthetic mug and readers for common formats (docs/datasets.md).

Every reader returns a `SceneData` whose cameras are NDC `PerspectiveCameras` (image_size set).
"""

from inverse3d.datasets.blender import load_blender_scene
from inverse3d.datasets.colmap import load_colmap_scene
from inverse3d.datasets.dtu import load_dtu_scene
from inverse3d.datasets.folder import load_folder_scene, write_folder_scene
from inverse3d.datasets.loader import FORMATS, detect_format, load_scene
from inverse3d.datasets.synthetic import make_synthetic_scene, mug_camera_angles, mug_mesh
from inverse3d.structures.scene import SceneData

__all__ = [
    "FORMATS",
    "SceneData",
    "detect_format",
    "load_blender_scene",
    "load_colmap_scene",
    "load_dtu_scene",
    "load_folder_scene",
    "load_scene",
    "make_synthetic_scene",
    "mug_camera_angles",
    "mug_mesh",
    "write_folder_scene",
]
