"""Shaders with lights/materials on another device than the mesh (CUDA only)."""

from __future__ import annotations

import pytest
import torch

from inverse3d.renderer import (
    FoVPerspectiveCameras,
    HardPhongShader,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    SoftPhongShader,
    TexturesVertex,
    look_at_view_transform,
)
from inverse3d.utils import ico_sphere


@pytest.mark.cuda
@pytest.mark.parametrize("shader_cls", [HardPhongShader, SoftPhongShader])
def test_default_cpu_materials_with_cuda_mesh(shader_cls):
    dev = torch.device("cuda")
    mesh = ico_sphere(2, dev)
    mesh.textures = TexturesVertex(torch.full_like(mesh.verts_padded(), 0.7))
    R, T = look_at_view_transform(2.5, 20, 30)
    cams = FoVPerspectiveCameras(R=R, T=T, device=dev)
    settings = RasterizationSettings(image_size=32)

    def render(lights, shader_device):
        shader = shader_cls(device=shader_device, cameras=cams, lights=lights)
        return MeshRenderer(MeshRasterizer(cams, settings), shader)(mesh)

    # Materials default to CPU (shader device "cpu") and lights live on the CPU: same image as
    # with everything on the GPU, and the user's objects are not moved.
    cpu_lights = PointLights(location=[[0.0, 1.0, 3.0]])
    img = render(cpu_lights, "cpu")
    ref = render(PointLights(location=[[0.0, 1.0, 3.0]], device=dev), dev)
    assert img.device.type == "cuda"
    assert torch.allclose(img, ref, atol=1e-6)
    assert cpu_lights.location.device.type == "cpu"
