"""Names that code written for PyTorch3D imports from deep module paths (not the package
``__init__``): each must exist under the same path in inverse3d."""

from __future__ import annotations

import importlib

import pytest

DEEP = {
    "structures.meshes": "Meshes join_meshes_as_batch join_meshes_as_scene",
    "structures.pointclouds": "Pointclouds join_pointclouds_as_batch join_pointclouds_as_scene",
    "structures.volumes": "Volumes VolumeLocator",
    "structures.utils": "list_to_packed list_to_padded packed_to_list padded_to_list "
    "padded_to_packed",
    "transforms.transform3d": "Transform3d Translate Scale Rotate RotateAxisAngle",
    "transforms.so3": "so3_exp_map so3_log_map so3_relative_angle so3_rotation_angle hat hat_inv",
    "transforms.se3": "se3_exp_map se3_log_map",
    "transforms.math": "acos_linear_extrapolation",
    "transforms.rotation_conversions": "axis_angle_to_matrix axis_angle_to_quaternion "
    "euler_angles_to_matrix matrix_to_axis_angle matrix_to_euler_angles matrix_to_quaternion "
    "matrix_to_rotation_6d quaternion_apply quaternion_invert quaternion_multiply "
    "quaternion_raw_multiply quaternion_to_axis_angle quaternion_to_matrix random_quaternions "
    "random_rotation random_rotations rotation_6d_to_matrix standardize_quaternion",
    "io.obj_io": "load_obj load_objs_as_meshes save_obj",
    "io.ply_io": "load_ply save_ply",
    "io.pluggable": "IO",
    "utils.ico_sphere": "ico_sphere",
    "utils.torus": "torus",
    "utils.camera_conversions": "cameras_from_opencv_projection opencv_from_cameras_projection",
    "renderer.cameras": "CamerasBase FoVPerspectiveCameras FoVOrthographicCameras "
    "PerspectiveCameras OrthographicCameras OpenGLPerspectiveCameras OpenGLOrthographicCameras "
    "SfMPerspectiveCameras SfMOrthographicCameras camera_position_from_spherical_angles "
    "get_world_to_view_transform look_at_rotation look_at_view_transform "
    "get_ndc_to_screen_transform get_screen_to_ndc_transform",
    "renderer.camera_utils": "join_cameras_as_batch rotate_on_spot camera_to_eye_at_up",
    "renderer.utils": "TensorProperties convert_to_tensors_and_broadcast ndc_grid_sample "
    "ndc_to_grid_sample_coords",
    "renderer.lighting": "AmbientLights DirectionalLights PointLights diffuse specular",
    "renderer.materials": "Materials",
    "renderer.blending": "BlendParams hard_rgb_blend sigmoid_alpha_blend softmax_rgb_blend",
    "renderer.compositing": "alpha_composite norm_weighted_sum weighted_sum",
    "renderer.mesh.textures": "TexturesBase TexturesAtlas TexturesUV TexturesVertex Textures",
    "renderer.mesh.rasterizer": "Fragments MeshRasterizer RasterizationSettings",
    "renderer.mesh.rasterize_meshes": "rasterize_meshes",
    "renderer.mesh.renderer": "MeshRenderer MeshRendererWithFragments",
    "renderer.mesh.shader": "HardPhongShader SoftPhongShader HardGouraudShader "
    "SoftGouraudShader HardFlatShader SoftSilhouetteShader HardDepthShader SoftDepthShader "
    "TexturedSoftPhongShader ShaderBase",
    "renderer.mesh.shading": "phong_shading gouraud_shading flat_shading",
    "renderer.points.rasterize_points": "rasterize_points",
    "renderer.points.rasterizer": "PointFragments PointsRasterizationSettings PointsRasterizer",
    "renderer.points.compositor": "AlphaCompositor NormWeightedCompositor",
    "renderer.points.renderer": "PointsRenderer",
    "renderer.implicit.utils": "RayBundle HeterogeneousRayBundle ray_bundle_to_ray_points "
    "ray_bundle_variables_to_ray_points",
    "renderer.implicit.raysampling": "MultinomialRaysampler NDCMultinomialRaysampler "
    "MonteCarloRaysampler GridRaysampler NDCGridRaysampler",
    "renderer.implicit.raymarching": "EmissionAbsorptionRaymarcher AbsorptionOnlyRaymarcher",
    "renderer.implicit.renderer": "ImplicitRenderer VolumeRenderer VolumeSampler",
    "renderer.implicit.harmonic_embedding": "HarmonicEmbedding",
    "renderer.implicit.sample_pdf": "sample_pdf",
    "ops.knn": "knn_points knn_gather",
    "ops.ball_query": "ball_query",
    "ops.sample_points_from_meshes": "sample_points_from_meshes",
    "ops.sample_farthest_points": "sample_farthest_points",
    "ops.packed_to_padded": "packed_to_padded padded_to_packed",
    "ops.interp_face_attrs": "interpolate_face_attributes",
    "ops.laplacian_matrices": "laplacian cot_laplacian norm_laplacian",
    "ops.mesh_face_areas_normals": "mesh_face_areas_normals",
    "ops.marching_cubes": "marching_cubes",
    "ops.utils": "eyes wmean is_pointclouds convert_pointclouds_to_tensor",
    "loss.chamfer": "chamfer_distance",
    "loss.mesh_edge_loss": "mesh_edge_loss",
    "loss.mesh_laplacian_smoothing": "mesh_laplacian_smoothing",
    "loss.mesh_normal_consistency": "mesh_normal_consistency",
    "loss.point_mesh_distance": "point_mesh_edge_distance point_mesh_face_distance",
}

CASES = [(mod, name) for mod, names in DEEP.items() for name in names.split()]


@pytest.mark.parametrize(("module", "name"), CASES, ids=[f"{m}.{n}" for m, n in CASES])
def test_deep_name(module, name):
    mod = importlib.import_module(f"inverse3d.{module}")
    assert hasattr(mod, name), f"inverse3d.{module} lacks {name}"
