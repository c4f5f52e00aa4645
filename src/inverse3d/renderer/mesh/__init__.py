"""Mesh rasterization, shading and textures."""

from inverse3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from inverse3d.renderer.mesh.rasterizer import Fragments, MeshRasterizer, RasterizationSettings
from inverse3d.renderer.mesh.renderer import MeshRenderer, MeshRendererWithFragments
from inverse3d.renderer.mesh.shader import (
    HardDepthShader,
    HardFlatShader,
    HardGouraudShader,
    HardPhongShader,
    ShaderBase,
    SoftDepthShader,
    SoftGouraudShader,
    SoftPhongShader,
    SoftSilhouetteShader,
    SplatterPhongShader,
    TexturedSoftPhongShader,
)
from inverse3d.renderer.mesh.shading import flat_shading, gouraud_shading, phong_shading
from inverse3d.renderer.mesh.textures import (
    Textures,
    TexturesAtlas,
    TexturesBase,
    TexturesUV,
    TexturesVertex,
)

__all__ = [
    "Fragments",
    "HardDepthShader",
    "HardFlatShader",
    "HardGouraudShader",
    "HardPhongShader",
    "MeshRasterizer",
    "MeshRenderer",
    "MeshRendererWithFragments",
    "RasterizationSettings",
    "ShaderBase",
    "SoftDepthShader",
    "SoftGouraudShader",
    "SoftPhongShader",
    "SoftSilhouetteShader",
    "SplatterPhongShader",
    "Textures",
    "TexturesAtlas",
    "TexturesBase",
    "TexturesUV",
    "TexturesVertex",
    "TexturedSoftPhongShader",
    "flat_shading",
    "gouraud_shading",
    "phong_shading",
    "rasterize_meshes",
]
