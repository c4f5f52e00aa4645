"""Book workflows as commands: pose from one silhouette (ch.4), sphere fit to points (ch.3)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from inverse3d.cli import main


class TestEstimatePose:
    def test_matches_reference(self, book_dir):
        """The teapot seen from (dist 3, elev 50, azim 0) is found from the book's start."""
        from inverse3d.io.obj_io import load_obj
        from inverse3d.methods.pose import PoseConfig, estimate_pose
        from inverse3d.renderer.cameras import FoVPerspectiveCameras
        from inverse3d.renderer.look_at import look_at_view_transform
        from inverse3d.structures.meshes import Meshes
        from inverse3d.viz.turntable import render_mesh_views

        path = book_dir / "chap4" / "data" / "teapot.obj"
        if not path.is_file():
            pytest.skip("teapot.obj absent")
        verts, faces, _ = load_obj(path, load_textures=False)
        mesh = Meshes([verts], [faces.verts_idx])
        R, T = look_at_view_transform(3.0, 50.0, 0.0)
        cam = FoVPerspectiveCameras(R=R, T=T)
        target = render_mesh_views(mesh, cam, 64)[0, ..., 3]  # hard, anti-aliased silhouette
        truth = cam.get_camera_center()[0]
        cfg = PoseConfig(steps=200, restarts=1, image_size=64)
        res = estimate_pose(mesh, target, cfg, seed=0)
        assert len(res.starts) == 2
        err = float((res.centre - truth).norm())
        assert err < 0.02 * 3.0, (res.centre, truth)
        assert res.spherical()["elev"] == pytest.approx(50.0, abs=2.0)

    def test_silhouette_from_image(self):
        from inverse3d.methods.pose import silhouette_from_image

        rgb = torch.ones(8, 8, 3)
        rgb[2:5, 3:6] = torch.tensor([0.2, 0.4, 0.6])
        sil = silhouette_from_image(rgb)
        assert sil.sum() == 9 and sil[3, 4] == 1
        rgba = torch.zeros(4, 4, 4)
        rgba[1, 1, 3] = 0.5
        assert silhouette_from_image(rgba)[1, 1] == 0.5
        with pytest.raises(ValueError, match="image"):
            silhouette_from_image(torch.zeros(2, 2, 2, 2))


class TestFitMesh:
    def test_cli_pedestrian(self, book_dir, tmp_path, capsys):
        from inverse3d.io.ply_io import load_ply

        path = book_dir / "chap3" / "pedestrian.ply"
        if not path.is_file():
            pytest.skip("pedestrian.ply absent")
        out = tmp_path / "fit"
        code = main(
            [
                "fit-mesh",
                str(path),
                "--steps",
                "150",
                "--level",
                "3",
                "--out",
                str(tmp_path),
                "--name",
                "fit",
                "--quiet",
            ]
        )
        assert code == 0
        text = capsys.readouterr().out
        assert "chamfer distance to the points" in text
        verts, faces = load_ply(out / "mesh.ply")
        # Closed: every edge is shared by exactly two faces.
        e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).sort(1).values
        _, counts = torch.unique(e, dim=0, return_counts=True)
        assert (counts == 2).all()
        res = json.loads((out / "report.json").read_text())["metrics"]
        assert math.isfinite(res["chamfer"]) and res["chamfer"] < 0.5 * res["chamfer_before"]
        assert (out / "before_after.png").is_file()

    def test_exceptions(self):
        from inverse3d.methods.fit_points import fit_mesh_to_points

        with pytest.raises(ValueError, match="points"):
            fit_mesh_to_points(torch.zeros(5, 2))
        with pytest.raises(ValueError, match="finite"):
            fit_mesh_to_points(torch.full((5, 3), float("nan")))


class TestRenderCommand:
    def test_smoke(self, tmp_path, capsys):
        from inverse3d.datasets.synthetic import mug_mesh
        from inverse3d.io.ply_io import save_ply

        m = mug_mesh()
        path = tmp_path / "mug.ply"
        save_ply(path, m.verts_packed(), m.faces_packed())
        assert (
            main(
                [
                    "render",
                    str(path),
                    "--views",
                    "2",
                    "--image-size",
                    "32",
                    "--out",
                    str(tmp_path),
                    "--name",
                    "r",
                ]
            )
            == 0
        )
        assert (tmp_path / "r" / "view_001.png").is_file()
        assert (
            main(
                [
                    "render",
                    str(path),
                    "--turntable",
                    "--frames",
                    "3",
                    "--image-size",
                    "32",
                    "--light",
                    "directional",
                    "--out",
                    str(tmp_path),
                    "--name",
                    "t",
                ]
            )
            == 0
        )
        assert (tmp_path / "t" / "turntable.gif").is_file()
        report = json.loads((tmp_path / "t" / "report.json").read_text())
        assert report["command"] == "render" and report["files"] == ["turntable.gif"]

    def test_fit_mesh_accepts_obj_vertices(self, tmp_path, capsys):
        from inverse3d.io.obj_io import save_obj
        from inverse3d.utils.ico_sphere import ico_sphere

        s = ico_sphere(2)
        path = tmp_path / "pts.obj"
        save_obj(path, s.verts_packed() * 2.0, s.faces_packed())
        code = main(
            [
                "fit-mesh",
                str(path),
                "--steps",
                "5",
                "--level",
                "1",
                "--out",
                str(tmp_path),
                "--quiet",
            ]
        )
        assert code == 0
        assert (tmp_path / "fit-pts" / "report.json").is_file()


def test_cli_loads_meshes_strictly(tmp_path, capsys):
    path = tmp_path / "nan.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 nan 0\nf 1 2 3\n")
    code = main(["evaluate", str(path), str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "nan.obj" in err and len(err.strip().splitlines()) == 1
