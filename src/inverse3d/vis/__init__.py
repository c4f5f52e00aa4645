"""Debugging visualisations (PyTorch3D's `vis`): texture maps with their UV points, and plotly
figures of meshes, point clouds, cameras and ray bundles.

plotly is optional (`pip install inverse3d[vis]`): importing this package works without it, and
the plotly functions raise ImportError when called without it.
"""

from inverse3d.vis.plotly_vis import (
    AxisArgs,
    Lighting,
    get_camera_wireframe,
    plot_batch_individually,
    plot_scene,
)
from inverse3d.vis.texture_vis import texturesuv_image_matplotlib, texturesuv_image_PIL

__all__ = [
    "AxisArgs",
    "Lighting",
    "get_camera_wireframe",
    "plot_batch_individually",
    "plot_scene",
    "texturesuv_image_PIL",
    "texturesuv_image_matplotlib",
]
