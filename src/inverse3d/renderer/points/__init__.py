"""Point cloud rasterization and compositing."""

from inverse3d.renderer.points.compositor import AlphaCompositor, NormWeightedCompositor
from inverse3d.renderer.points.pulsar.unified import PulsarPointsRenderer
from inverse3d.renderer.points.rasterize_points import rasterize_points
from inverse3d.renderer.points.rasterizer import PointsRasterizationSettings, PointsRasterizer
from inverse3d.renderer.points.renderer import PointsRenderer

__all__ = [
    "AlphaCompositor",
    "NormWeightedCompositor",
    "PointsRasterizationSettings",
    "PointsRasterizer",
    "PointsRenderer",
    "PulsarPointsRenderer",
    "rasterize_points",
]
