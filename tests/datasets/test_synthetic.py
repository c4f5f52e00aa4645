"""The built-in mug scene: geometry (closed, outward, hole, concavity), cameras and renders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverse3d.datasets.synthetic import make_synthetic_scene, mug_camera_angles, mug_mesh
from inverse3d.ops.knn import knn_points
from inverse3d.ops.sample_points_from_meshes import sample_points_from_meshes

trimesh = pytest.importorskip("trimesh")


def _tm(mesh):
    return trimesh.Trimesh(
        mesh.verts_packed().double().numpy(), mesh.faces_packed().numpy(), process=False
    )


class TestMugMesh:
    def test_smoke(self):
        m = mug_mesh()
        assert len(m) == 1 and m.textures is not None
        cols = m.textures.verts_features_packed()
        assert cols.shape == (m.verts_packed().shape[0], 3)
        assert float(cols.min()) >= 0 and float(cols.max()) <= 1

    def test_normalised(self):
        v = mug_mesh().verts_packed()
        assert abs(float(v.norm(dim=1).max()) - 0.9) < 1e-5
        torch.testing.assert_close(v.min(0).values, -v.max(0).values, atol=1e-5, rtol=0)

    def test_inside_textured_changes_only_the_inside(self):
        plain, tex = mug_mesh(), mug_mesh(inside="textured")
        torch.testing.assert_close(plain.verts_packed(), tex.verts_packed())
        a = plain.textures.verts_features_packed()
        b = tex.textures.verts_features_packed()
        torch.testing.assert_close(a, mug_mesh(inside="plain").textures.verts_features_packed())
        v = plain.verts_packed()
        changed = (a - b).abs().sum(1) > 1e-6
        # Every changed vertex lies in the opening's cylinder (inner radius 0.9 of the outer
        # radius, about the base disc's centre), above the base; about half the inside changes.
        base = v[v[:, 1] < float(v[:, 1].min()) + 1e-5]
        centre = base.mean(0)
        r_out = float(v[:, 1].max() - v[:, 1].min()) / 2.05  # the body: radius 1, 2.05 high
        radial = (v[:, [0, 2]] - centre[[0, 2]]).norm(dim=1)
        assert bool(changed.any())
        assert float(radial[changed].max()) <= 0.9 * r_out + 1e-4
        assert float(v[changed, 1].min()) > float(v[:, 1].min()) + 0.1 * r_out
        inside = (radial < 0.9 * r_out + 1e-4) & (v[:, 1] > float(v[:, 1].min()) + 0.14 * r_out)
        assert 0.3 < float(changed.sum()) / float(inside.sum()) < 0.7
        with pytest.raises(ValueError, match="inside"):
            mug_mesh(inside="striped")

    def test_closed_and_outward(self):
        parts = _tm(mug_mesh()).split(only_watertight=False)
        assert len(parts) == 2  # body, handle
        for p in parts:
            assert p.is_watertight and p.is_winding_consistent
            assert p.volume > 0  # outward normals give a positive signed volume

    def test_through_hole_concavity_thin_wall(self):
        tm = _tm(mug_mesh())
        v = tm.vertices
        # Through-hole: a line along z through the middle of the handle's C misses the mesh.
        ymid = 0.5 * (v[:, 1].min() + v[:, 1].max())
        x0, x1 = v[:, 0].min(), v[:, 0].max()  # body wall at x0 ... handle tip at x1

        def line_hits(frac):
            x = x0 + frac * (x1 - x0)
            return tm.ray.intersects_any([[x, ymid, -2.0]], [[0.0, 0.0, 1.0]])[0]

        assert not line_hits(0.80) and not line_hits(0.88)  # the hole inside the C
        assert line_hits(0.5) and line_hits(0.97)  # the body, the handle's tube
        # Concavity: a ray down the axis meets the inner floor well above the base.
        loc, _, _ = tm.ray.intersects_location([[0.0, 2.0, 0.0]], [[0.0, -1.0, 0.0]])
        ys = sorted(loc[:, 1], reverse=True)
        assert len(ys) == 2 and ys[0] - v[:, 1].min() > 0.05 and ys[0] < v[:, 1].max() - 0.5
        # Thin wall: a ray along +x at mid height crosses the wall twice within 0.08.
        loc, _, _ = tm.ray.intersects_location([[0.0, ymid - 0.3, 0.0]], [[-1.0, 0.0, 0.0]])
        xs = sorted(-loc[:, 0])
        assert len(xs) == 2 and 0.0 < xs[1] - xs[0] < 0.08

    def test_deterministic_per_seed(self):
        a, b, c = mug_mesh(0), mug_mesh(0), mug_mesh(1)
        assert torch.equal(a.verts_packed(), b.verts_packed())
        ca, cb, cc = (m.textures.verts_features_packed() for m in (a, b, c))
        assert torch.equal(ca, cb) and not torch.allclose(ca, cc)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="seed"):
            mug_mesh(-1)


@pytest.fixture(scope="module")
def scene():
    return make_synthetic_scene(n_views=4, n_test=2, image_size=40, seed=0)


class TestMakeSyntheticScene:
    def test_shapes(self, scene):
        assert scene.images.shape == (6, 40, 40, 3)
        assert scene.masks.shape == (6, 40, 40) and scene.depths.shape == (6, 40, 40)
        assert len(scene.cameras) == 6 and scene.image_size == (40, 40)
        assert sorted(scene.train_idx + scene.test_idx) == list(range(6))
        assert len(scene.test_idx) == 2

    def test_camera_angles(self):
        elev, azim, test = mug_camera_angles(40, 8)
        assert len(elev) == 48 and len(test) == 8
        assert min(elev) >= 10 and max(elev) <= 60
        gaps = np.diff(test)
        assert gaps.min() >= 5  # held-out azimuths interleaved, not bunched

    def test_masks_and_background(self, scene):
        m = scene.masks
        assert float(m.min()) == 0 and float(m.max()) == 1
        assert bool(((m > 0) & (m < 1)).any())  # antialiased edges
        bg = scene.images[m == 0]
        torch.testing.assert_close(bg, torch.ones_like(bg))  # white background
        assert bool((scene.depths[m == 0] == 0).all()) and bool((scene.depths[m > 0] > 1).all())

    def test_convention_matches_fov_camera(self, scene):
        from inverse3d.renderer.cameras import FoVPerspectiveCameras

        fov = FoVPerspectiveCameras(fov=40.0, R=scene.cameras.R, T=scene.cameras.T)
        X = torch.randn(6, 30, 3) * 0.5
        a = scene.cameras.transform_points_screen(X)[..., :2]
        b = fov.transform_points_screen(X, image_size=(40, 40))[..., :2]
        torch.testing.assert_close(a, b, atol=1e-3, rtol=0)

    def test_matches_reference_depth_on_surface(self, scene):
        """Pixels unprojected with their depth land on the GT surface: renderer, depth and
        cameras agree."""
        full = scene.masks == 1
        n, iy, ix = torch.nonzero(full, as_tuple=True)
        z = scene.depths[n, iy, ix]
        # Pixel centres (screen x = j + 0.5) in NDC (+X left, +Y up) of a square 40x40 image.
        xy = torch.stack([1 - 2 * (ix + 0.5) / 40, 1 - 2 * (iy + 0.5) / 40], -1)
        world = []
        for k in range(len(scene)):
            sel = n == k
            pts = torch.cat([xy[sel], z[sel, None]], -1)
            world.append(
                scene.cameras[k].unproject_points(
                    pts[None], world_coordinates=True, from_ndc=False
                )[0]
            )
        world = torch.cat(world)
        surf = sample_points_from_meshes(scene.gt_mesh, 100_000)
        d = knn_points(world[None], surf).dists[0, :, 0].sqrt()
        assert float(d.median()) < 0.01 and float(d.quantile(0.95)) < 0.03

    def test_silhouette_covers_projected_vertices(self, scene):
        v = scene.gt_mesh.verts_packed()
        uv = scene.cameras.transform_points_screen(v[None].expand(len(scene), -1, -1))[..., :2]
        ij = uv.floor().long().clamp(0, 39)
        dil = torch.nn.functional.max_pool2d(scene.masks[:, None], 3, 1, 1)[:, 0]
        inside = dil[torch.arange(len(scene))[:, None], ij[..., 1], ij[..., 0]]
        assert float((inside > 0).float().mean()) == 1.0

    def test_deterministic(self):
        a = make_synthetic_scene(n_views=2, n_test=0, image_size=16, seed=5)
        b = make_synthetic_scene(n_views=2, n_test=0, image_size=16, seed=5)
        assert torch.equal(a.images, b.images) and a.test_idx == []
        assert math.isclose(a.extra["fov"], 40.0)

    def test_exceptions(self):
        with pytest.raises(ValueError, match="n_views"):
            make_synthetic_scene(n_views=0)
        with pytest.raises(TypeError, match="image_size"):
            make_synthetic_scene(image_size=12.5)
