"""Tests of renderer/lighting.py and renderer/materials.py against hand-computed Lambert/Phong."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.renderer.lighting import (
    AmbientLights,
    DirectionalLights,
    PointLights,
    diffuse,
    specular,
)
from inverse3d.renderer.materials import Materials

S2 = math.sqrt(2.0)


class TestDiffuse:
    def test_matches_reference(self):
        normals = torch.tensor([[[0.0, 0.0, 2.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])  # (1, 3, 3)
        direction = torch.tensor([[0.0, 1.0, 1.0]])
        color = torch.tensor([[0.3, 0.6, 0.9]])
        out = diffuse(normals, color, direction)
        expected = color / S2  # cos(45 deg), normals are renormalised
        assert out.shape == (1, 3, 3)
        assert torch.allclose(out, expected.expand(3, 3)[None], atol=1e-6)

    def test_light_behind_gives_zero(self):
        normals = torch.tensor([[0.0, 0.0, 1.0]])
        out = diffuse(normals, torch.ones(1, 3), torch.tensor([[0.3, 0.0, -1.0]]))
        assert torch.equal(out, torch.zeros(1, 3))

    def test_shapes(self):
        normals = torch.randn(2, 4, 5, 3, 3)
        assert diffuse(normals, torch.ones(2, 3), torch.randn(2, 3)).shape == (2, 4, 5, 3, 3)
        assert diffuse(normals, torch.ones(1, 3), torch.randn(1, 3)).shape == (2, 4, 5, 3, 3)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="normals"):
            diffuse(torch.zeros(2, 4), torch.ones(1, 3), torch.ones(1, 3))
        with pytest.raises(ValueError, match="batch size"):
            diffuse(torch.zeros(2, 5, 3), torch.ones(3, 3), torch.ones(1, 3))

    def test_gradcheck(self):
        normals = torch.tensor([[[0.1, 0.2, 1.0], [0.3, -0.1, 0.8]]], dtype=torch.float64)
        direction = torch.tensor([[0.2, 0.5, 1.0]], dtype=torch.float64)
        color = torch.tensor([[0.3, 0.5, 0.7]], dtype=torch.float64)
        args = [t.clone().requires_grad_() for t in (normals, color, direction)]
        assert torch.autograd.gradcheck(diffuse, args)


class TestSpecular:
    def test_matches_reference(self):
        points = torch.zeros(1, 2, 3)
        normals = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
        direction = torch.tensor([[1.0, 0.0, 1.0]])  # reflection r = (-1, 0, 1) / sqrt(2)
        color = torch.tensor([[0.2, 0.4, 0.6]])
        shininess = torch.tensor([4.0])
        # viewer along r: alpha = 1; viewer along +z: alpha = cos 45 = 1/sqrt(2)
        cam_r = torch.tensor([[-3.0, 0.0, 3.0]])
        out = specular(points, normals, direction, color, cam_r, shininess)
        assert torch.allclose(out, color.expand(2, 3)[None], atol=1e-6)
        cam_z = torch.tensor([[0.0, 0.0, 5.0]])
        out = specular(points, normals, direction, color, cam_z, shininess)
        assert torch.allclose(out, (color * (1 / S2) ** 4).expand(2, 3)[None], atol=1e-6)

    def test_light_behind_gives_zero(self):
        points = torch.zeros(1, 1, 3)
        normals = torch.tensor([[[0.0, 0.0, 1.0]]])
        # the reflected ray would point at the camera but the light is behind the surface
        out = specular(
            points,
            normals,
            torch.tensor([[0.0, 0.0, -1.0]]),
            torch.ones(1, 3),
            torch.tensor([[0.0, 0.0, -2.0]]),
            torch.tensor([10.0]),
        )
        assert torch.equal(out, torch.zeros(1, 1, 3))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="points and normals"):
            specular(
                torch.zeros(1, 2, 3),
                torch.zeros(1, 3, 3),
                torch.ones(1, 3),
                torch.ones(1, 3),
                torch.ones(1, 3),
                torch.ones(1),
            )

    def test_gradcheck(self):
        points = torch.tensor([[[0.1, 0.0, 0.0], [0.0, 0.2, 0.1]]], dtype=torch.float64)
        normals = torch.tensor([[[0.1, 0.0, 1.0], [0.0, 0.2, 1.0]]], dtype=torch.float64)
        direction = torch.tensor([[0.5, 0.1, 1.0]], dtype=torch.float64)
        color = torch.tensor([[0.2, 0.4, 0.6]], dtype=torch.float64)
        cam = torch.tensor([[-1.0, 0.2, 2.0]], dtype=torch.float64)
        shininess = torch.tensor([3.0], dtype=torch.float64)
        args = [t.clone().requires_grad_() for t in (points, normals, direction, color, cam)]

        def fn(p, n, d, c, cp):
            return specular(p, n, d, c, cp, shininess)

        assert torch.autograd.gradcheck(fn, args)


class TestPointLights:
    def test_defaults(self):
        lights = PointLights()
        assert torch.allclose(lights.ambient_color, torch.tensor([[0.5] * 3]))
        assert torch.allclose(lights.diffuse_color, torch.tensor([[0.3] * 3]))
        assert torch.allclose(lights.specular_color, torch.tensor([[0.2] * 3]))
        assert torch.equal(lights.location, torch.tensor([[0.0, 1.0, 0.0]]))

    def test_matches_reference(self):
        lights = PointLights(location=((0.0, 0.0, 3.0),), diffuse_color=((1.0, 0.5, 0.25),))
        points = torch.tensor([[[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 4.0]]])
        normals = torch.tensor([[[0.0, 0.0, 1.0]] * 3])
        out = lights.diffuse(normals, points)
        cos = torch.tensor([1.0, 1 / S2, 0.0])  # the third light is behind
        expected = cos[:, None] * torch.tensor([1.0, 0.5, 0.25])
        assert torch.allclose(out[0], expected, atol=1e-6)

    def test_shapes(self):
        lights = PointLights(location=torch.randn(2, 3))
        pts = torch.randn(2, 4, 4, 3, 3)
        nrm = torch.randn(2, 4, 4, 3, 3)
        assert lights.diffuse(nrm, pts).shape == (2, 4, 4, 3, 3)
        cam = torch.randn(2, 3)
        assert lights.specular(nrm, pts, cam, torch.tensor([64.0, 64.0])).shape == pts.shape

    def test_clone_and_to(self):
        lights = PointLights(location=((1.0, 2.0, 3.0),))
        other = lights.clone()
        other.location[0, 0] = 9.0
        assert lights.location[0, 0] == 1.0 and isinstance(other, PointLights)
        assert lights.to("cpu") is lights

    def test_exceptions(self):
        with pytest.raises(ValueError, match="location"):
            PointLights(location=((1.0, 2.0),))

    def test_gradcheck(self):
        loc = torch.tensor([[0.3, 0.4, 2.0]], dtype=torch.float64, requires_grad=True)
        pts = torch.tensor([[[0.0, 0.1, 0.0], [0.2, 0.0, 0.1]]], dtype=torch.float64)
        nrm = torch.tensor([[[0.0, 0.1, 1.0], [0.1, 0.0, 1.0]]], dtype=torch.float64)

        def fn(location):
            lights = PointLights(location=location)
            cam = torch.tensor([[0.0, 0.0, 3.0]], dtype=torch.float64)
            return lights.diffuse(nrm, pts) + lights.specular(nrm, pts, cam, torch.tensor([4.0]))

        assert torch.autograd.gradcheck(fn, (loc,))


class TestDirectionalLights:
    def test_matches_reference(self):
        lights = DirectionalLights(direction=((0.0, 1.0, 0.0),))
        normals = torch.tensor([[[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [1.0, 1.0, 0.0]]])
        out = lights.diffuse(normals)
        expected = torch.tensor([1.0, 0.0, 1 / S2])[:, None] * 0.3
        assert torch.allclose(out[0], expected.expand(3, 3), atol=1e-6)

    def test_specular(self):
        lights = DirectionalLights(direction=((0.0, 0.0, 1.0),), specular_color=((1.0, 1.0, 1.0),))
        pts = torch.zeros(1, 1, 3)
        nrm = torch.tensor([[[0.0, 0.0, 1.0]]])
        out = lights.specular(nrm, pts, torch.tensor([[0.0, 0.0, 2.0]]), torch.tensor([64.0]))
        assert torch.allclose(out, torch.ones(1, 1, 3))

    def test_exceptions(self):
        with pytest.raises(ValueError, match="direction"):
            DirectionalLights(direction=((1.0, 2.0),))
        with pytest.raises(ValueError, match="batch size"):
            DirectionalLights(direction=torch.zeros(2, 3), diffuse_color=torch.zeros(3, 3))


class TestAmbientLights:
    def test_smoke(self):
        lights = AmbientLights()
        assert torch.equal(lights.ambient_color, torch.ones(1, 3))
        nrm = torch.randn(1, 5, 3)
        assert torch.equal(lights.diffuse(nrm, nrm), torch.zeros(1, 5, 3))
        assert torch.equal(lights.specular(nrm, nrm, torch.zeros(1, 3), 64.0), torch.zeros(1, 5, 3))
        assert isinstance(lights.clone(), AmbientLights)


class TestMaterials:
    def test_defaults(self):
        m = Materials()
        for name in ("ambient_color", "diffuse_color", "specular_color"):
            assert torch.equal(getattr(m, name), torch.ones(1, 3))
        assert torch.equal(m.shininess, torch.tensor([64.0]))

    def test_shapes(self):
        m = Materials(diffuse_color=torch.rand(4, 3), shininess=10)
        assert m.ambient_color.shape == (4, 3) and m.shininess.shape == (4,) and len(m) == 4
        assert isinstance(m.clone(), Materials)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="diffuse_color"):
            Materials(diffuse_color=((1.0, 1.0),))
        with pytest.raises(ValueError, match="shininess"):
            Materials(shininess=((1.0, 2.0),))
        with pytest.raises(ValueError, match="batch size"):
            Materials(diffuse_color=torch.rand(2, 3), specular_color=torch.rand(3, 3))


class TestDevice:
    def test_lights_follow_device(self, device):
        lights = PointLights(location=((0.0, 1.0, 2.0),), device=device)
        assert lights.location.device.type == device.type
        nrm = torch.randn(2, 5, 3, device=device)
        pts = torch.randn(2, 5, 3, device=device)
        cam = torch.zeros(2, 3, device=device)
        mat = Materials(device=device)
        out = lights.diffuse(nrm, pts) + lights.specular(nrm, pts, cam, mat.shininess)
        assert out.device.type == device.type
        ref = PointLights(location=((0.0, 1.0, 2.0),))
        ref_out = ref.diffuse(nrm.cpu(), pts.cpu()) + ref.specular(
            nrm.cpu(), pts.cpu(), cam.cpu(), torch.tensor([64.0])
        )
        assert torch.allclose(out.cpu(), ref_out, atol=1e-5)
