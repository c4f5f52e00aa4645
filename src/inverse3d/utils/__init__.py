"""Mesh generators (ico_sphere, torus, checkerboard) and camera conversions."""

from inverse3d.utils.camera_conversions import (
    cameras_from_opencv_projection,
    opencv_from_cameras_projection,
)
from inverse3d.utils.checkerboard import checkerboard
from inverse3d.utils.ico_sphere import ico_sphere
from inverse3d.utils.torus import torus

__all__ = [
    "cameras_from_opencv_projection",
    "checkerboard",
    "ico_sphere",
    "opencv_from_cameras_projection",
    "torus",
]
