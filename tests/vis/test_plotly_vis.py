"""vis.plotly_vis: the camera wireframe and the optional-plotly contract run without plotly;
figure contents are checked when plotly is installed."""

from __future__ import annotations

import sys

import pytest
import torch

from inverse3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from inverse3d.renderer.implicit.utils import RayBundle
from inverse3d.renderer.mesh.textures import TexturesVertex
from inverse3d.structures import Meshes, Pointclouds
from inverse3d.utils import ico_sphere
from inverse3d.vis import AxisArgs, Lighting, get_camera_wireframe, plotly_vis


class TestWithoutPlotly:
    def test_camera_wireframe(self):
        # PyTorch3D's camera symbol (vis/plotly_vis.py get_camera_wireframe): image rectangle
        # corners (+-1, +-0.75, 2), up tick (0, 0.75, 2) -> (0, 1, 2), centre, axis to (0, 0, 3)
        want = [
            [-1, 0.75, 2], [0, 0.75, 2], [0, 1, 2], [0, 0.75, 2], [1, 0.75, 2], [1, -0.75, 2],
            [-1, -0.75, 2], [-1, 0.75, 2], [0, 0, 0], [1, 0.75, 2], [1, -0.75, 2], [0, 0, 0],
            [-1, -0.75, 2], [0, 0, 0], [0, 0, 3],
        ]  # fmt: skip
        assert torch.allclose(get_camera_wireframe(1.0), torch.tensor(want))
        assert torch.allclose(get_camera_wireframe(), 0.3 * torch.tensor(want))

    def test_named_tuples(self):
        assert AxisArgs().backgroundcolor == "#fff" and AxisArgs()._asdict()["showgrid"] is False
        assert Lighting().ambient == 0.8 and Lighting(diffuse=0.5).diffuse == 0.5

    def test_import_error_only_on_call(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "plotly", None)
        monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
        monkeypatch.setitem(sys.modules, "plotly.subplots", None)
        with pytest.raises(
            ImportError, match="plotly is needed for plot_scene; pip install plotly"
        ):
            plotly_vis.plot_scene({"a": {}})
        with pytest.raises(ImportError, match="plotly is needed for plot_batch_individually"):
            plotly_vis.plot_batch_individually([ico_sphere(0)])


def _scene():
    mesh = ico_sphere(1)
    mesh.textures = TexturesVertex(torch.full((1, mesh.verts_packed().shape[0], 3), 0.5))
    pcl = Pointclouds([torch.rand(50, 3) + 2], features=[torch.rand(50, 3)])
    R, T = look_at_view_transform(3.0, 0.0, [0.0, 90.0])
    cams = FoVPerspectiveCameras(R=R, T=T)
    return mesh, pcl, cams


class TestPlotScene:
    def test_traces_and_bounds(self):
        pytest.importorskip("plotly")
        mesh, pcl, cams = _scene()
        fig = plotly_vis.plot_scene(
            {"s1": {"mesh": mesh, "pts": pcl}, "s2": {"cams": cams}}, ncols=2
        )
        names = [t.name for t in fig.data]
        assert names == ["mesh", "pts", "cams"]
        m = fig.data[0]
        assert len(m.i) == 80 and len(m.x) == 42
        assert m.vertexcolor[0].tolist() == [127.5, 127.5, 127.5]
        assert fig.data[1].marker.color[0].startswith("rgb(")
        # camera trace: 2 wireframes of 15 points separated by one NaN row
        assert len(fig.data[2].x) == 31
        # scene 1 range covers the sphere and the cloud in [2, 3]^3
        xr = fig.layout.scene1.xaxis.range
        assert xr[0] <= -1.0 and xr[1] >= 3.0
        assert fig.layout.scene1.aspectmode == "cube"
        assert fig.layout.scene1.camera.up.y == 1.0
        assert fig.layout.scene2.xaxis.showgrid is False  # AxisArgs defaults applied

    def test_camera_centres(self):
        pytest.importorskip("plotly")
        _, _, cams = _scene()
        fig = plotly_vis.plot_scene({"s": {"c": cams}}, camera_scale=0.0)
        x = torch.tensor([v for v in fig.data[0].x if v == v], dtype=torch.float32)
        z = torch.tensor([v for v in fig.data[0].z if v == v], dtype=torch.float32)
        centres = cams.get_camera_center()
        # with scale 0 every wireframe point is the camera centre
        assert torch.allclose(x[:15], centres[0, 0].expand(15), atol=1e-5)
        assert torch.allclose(z[15:], centres[1, 2].expand(15), atol=1e-5)

    def test_raybundle(self):
        pytest.importorskip("plotly")
        rays = RayBundle(
            origins=torch.zeros(2, 3, 3),
            directions=torch.tensor([0.0, 0.0, 1.0]).expand(2, 3, 3),
            lengths=torch.linspace(1, 2, 4).expand(2, 3, 4),
            xys=torch.zeros(2, 3, 2),
        )
        fig = plotly_vis.plot_scene({"s": {"rays": rays}})
        assert [t.name for t in fig.data] == ["rays", "rays_points"]
        assert len(fig.data[1].z) == 24 and max(fig.data[1].z) == 2.0
        assert len(fig.data[0].z) == 6 * 2 + 5  # 6 segments of 2 points, NaN between

    def test_viewpoint_and_kwargs(self):
        pytest.importorskip("plotly")
        mesh, _, cams = _scene()
        fig = plotly_vis.plot_scene(
            {"s": {"m": mesh}},
            viewpoint_cameras=cams[0],
            axis_args=AxisArgs(backgroundcolor="rgb(1,2,3)"),
            xaxis={"showgrid": True},
        )
        assert fig.layout.scene.xaxis.backgroundcolor == "rgb(1,2,3)"
        assert fig.layout.scene.xaxis.showgrid is True and fig.layout.scene.yaxis.showgrid is False
        eye = fig.layout.scene.camera.eye
        assert eye.z > 1.0 and abs(eye.x) < 1e-5  # camera at +z, 3 units from the origin
        with pytest.warns(UserWarning, match="Invalid number"):
            plotly_vis.plot_scene({"s": {"m": mesh}}, viewpoint_cameras=FoVPerspectiveCameras(
                R=torch.eye(3).expand(3, 3, 3), T=torch.zeros(3, 3)))  # fmt: skip

    def test_exceptions(self):
        pytest.importorskip("plotly")
        with pytest.raises(ValueError, match="is not a Cameras, Meshes, Pointclouds"):
            plotly_vis.plot_scene({"s": {"x": torch.zeros(3)}})


class TestPlotBatchIndividually:
    def test_subplots(self):
        pytest.importorskip("plotly")
        mesh, pcl, cams = _scene()
        meshes = Meshes([mesh.verts_packed(), mesh.verts_packed() + 1], [mesh.faces_packed()] * 2)
        fig = plotly_vis.plot_batch_individually([meshes, cams, pcl], subplot_titles=["a", "b"])
        assert [t.name for t in fig.data] == [
            "trace1-1", "trace1-2", "trace1-3", "trace2-1", "trace2-2", "trace2-3",
        ]  # fmt: skip
        assert [a.text for a in fig.layout.annotations] == ["a", "b"]
        fig = plotly_vis.plot_batch_individually([meshes, pcl], extend_struct=False)
        assert [t.name for t in fig.data] == ["trace1-1", "trace1-2", "trace2-1"]
        with pytest.raises(ValueError, match="invalid batch size"):
            three = Pointclouds([torch.rand(4, 3)] * 3)
            plotly_vis.plot_batch_individually([meshes, three])
        with pytest.raises(ValueError, match="invalid number of subplot titles"):
            plotly_vis.plot_batch_individually(meshes, subplot_titles=["x"])
