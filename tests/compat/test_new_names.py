"""Public names added for PyTorch3D compatibility in this release (docs/compat_names.md): each
must import from PyTorch3D's module path with `pytorch3d` replaced by `inverse3d`."""

from __future__ import annotations

import importlib

import pytest

NEW = {
    "common.compat": "meshgrid_ij prod",
    "renderer.fisheyecameras": "FishEyeCameras",
    "renderer": "FishEyeCameras SplatterBlender SplatterPhongShader PulsarPointsRenderer",
    "renderer.points": "PulsarPointsRenderer",
    "renderer.points.pulsar": "PulsarPointsRenderer",
    "renderer.points.pulsar.unified": "PulsarPointsRenderer",
    "renderer.splatter_blend": "SplatterBlender",
    "renderer.mesh": "SplatterPhongShader",
    "renderer.mesh.shader": "SplatterPhongShader",
    "ops": "add_points_features_to_volume_densities_features add_pointclouds_to_volumes",
    "vis": "texturesuv_image_matplotlib texturesuv_image_PIL plot_scene plot_batch_individually "
    "get_camera_wireframe AxisArgs Lighting",
    "vis.texture_vis": "texturesuv_image_matplotlib texturesuv_image_PIL",
    "vis.plotly_vis": "plot_scene plot_batch_individually get_camera_wireframe AxisArgs Lighting",
    "_C": "rasterize_meshes rasterize_points rasterize_points_backward knn_points_idx "
    "knn_points_backward point_face_dist_forward point_face_dist_backward "
    "face_point_dist_forward face_point_dist_backward point_edge_dist_forward "
    "edge_point_dist_forward packed_to_padded padded_to_packed ball_query "
    "sample_farthest_points gather_scatter interp_face_attrs_forward face_areas_normals_forward "
    "points_to_volumes_forward sigmoid_alpha_blend accum_alphacomposite accum_weightedsum "
    "accum_weightedsumnorm sample_pdf iou_box3d",
    "ops.points_to_volumes": "add_points_features_to_volume_densities_features "
    "add_pointclouds_to_volumes",
}

CASES = [(mod, name) for mod, names in NEW.items() for name in names.split()]


@pytest.mark.parametrize(("module", "name"), CASES, ids=[f"{m}.{n}" for m, n in CASES])
def test_new_name(module, name):
    mod = importlib.import_module(f"inverse3d.{module}")
    assert hasattr(mod, name), f"inverse3d.{module} lacks {name}"
