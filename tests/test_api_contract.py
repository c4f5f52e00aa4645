"""Every name of the PyTorch3D-compatible API contract (../shared/api.md) imports from its path."""

import importlib

import pytest

CONTRACT = {
    "inverse3d.structures": "Meshes Pointclouds Volumes join_meshes_as_batch join_meshes_as_scene "
    "join_pointclouds_as_batch join_pointclouds_as_scene list_to_packed list_to_padded "
    "packed_to_list padded_to_list",
    "inverse3d.structures.utils": "padded_to_packed",
    "inverse3d.structures.meshes": "Meshes join_meshes_as_batch",
    "inverse3d.structures.pointclouds": "Pointclouds",
    "inverse3d.io": "load_obj load_objs_as_meshes save_obj load_ply save_ply IO",
    "inverse3d.io.obj_io": "load_obj save_obj load_objs_as_meshes",
    "inverse3d.io.ply_io": "load_ply save_ply",
    "inverse3d.transforms": "acos_linear_extrapolation axis_angle_to_matrix axis_angle_to_quaternion "
    "euler_angles_to_matrix matrix_to_axis_angle matrix_to_euler_angles matrix_to_quaternion "
    "matrix_to_rotation_6d quaternion_apply quaternion_invert quaternion_multiply "
    "quaternion_raw_multiply quaternion_to_axis_angle quaternion_to_matrix random_quaternions "
    "random_rotation random_rotations rotation_6d_to_matrix standardize_quaternion se3_exp_map "
    "se3_log_map so3_exp_map so3_exponential_map so3_log_map so3_relative_angle so3_rotation_angle "
    "Transform3d Translate Scale Rotate RotateAxisAngle",
    "inverse3d.transforms.so3": "hat hat_inv so3_exp_map so3_log_map so3_relative_angle "
    "so3_rotation_angle",
    "inverse3d.transforms.rotation_conversions": "quaternion_to_matrix matrix_to_quaternion "
    "axis_angle_to_matrix euler_angles_to_matrix rotation_6d_to_matrix",
    "inverse3d.renderer": "CamerasBase FoVPerspectiveCameras FoVOrthographicCameras "
    "PerspectiveCameras OrthographicCameras OpenGLPerspectiveCameras OpenGLOrthographicCameras "
    "SfMPerspectiveCameras SfMOrthographicCameras camera_position_from_spherical_angles "
    "get_world_to_view_transform look_at_rotation look_at_view_transform join_cameras_as_batch "
    "rotate_on_spot MeshRasterizer RasterizationSettings rasterize_meshes MeshRenderer "
    "MeshRendererWithFragments HardFlatShader HardGouraudShader HardPhongShader SoftGouraudShader "
    "SoftPhongShader SoftSilhouetteShader gouraud_shading phong_shading Textures TexturesAtlas "
    "TexturesUV TexturesVertex BlendParams hard_rgb_blend sigmoid_alpha_blend softmax_rgb_blend "
    "AmbientLights DirectionalLights PointLights diffuse specular Materials "
    "PointsRasterizationSettings PointsRasterizer PointsRenderer rasterize_points AlphaCompositor "
    "NormWeightedCompositor RayBundle HeterogeneousRayBundle ray_bundle_to_ray_points "
    "ray_bundle_variables_to_ray_points MultinomialRaysampler NDCMultinomialRaysampler "
    "MonteCarloRaysampler GridRaysampler NDCGridRaysampler EmissionAbsorptionRaymarcher "
    "AbsorptionOnlyRaymarcher ImplicitRenderer VolumeRenderer VolumeSampler HarmonicEmbedding "
    "TensorProperties convert_to_tensors_and_broadcast ndc_grid_sample ndc_to_grid_sample_coords",
    "inverse3d.renderer.cameras": "CamerasBase PerspectiveCameras FoVPerspectiveCameras",
    "inverse3d.renderer.mesh": "TexturedSoftPhongShader TexturesBase",
    "inverse3d.renderer.mesh.shader": "HardDepthShader SoftDepthShader HardPhongShader "
    "SoftPhongShader SoftSilhouetteShader",
    "inverse3d.renderer.mesh.rasterizer": "Fragments",
    "inverse3d.renderer.points.rasterizer": "PointFragments",
    "inverse3d.renderer.compositing": "alpha_composite norm_weighted_sum weighted_sum",
    "inverse3d.renderer.implicit.sample_pdf": "sample_pdf",
    "inverse3d.renderer.implicit.renderer": "VolumeSampler",
    "inverse3d.renderer.implicit.raymarching": "EmissionAbsorptionRaymarcher "
    "AbsorptionOnlyRaymarcher",
    "inverse3d.loss": "chamfer_distance mesh_edge_loss mesh_laplacian_smoothing "
    "mesh_normal_consistency point_mesh_edge_distance point_mesh_face_distance",
    "inverse3d.ops": "ball_query cubify GraphConv interpolate_face_attributes knn_points knn_gather "
    "cot_laplacian laplacian norm_laplacian mesh_face_areas_normals taubin_smoothing "
    "packed_to_padded padded_to_packed corresponding_points_alignment iterative_closest_point "
    "estimate_pointcloud_normals estimate_pointcloud_local_coord_frames add_pointclouds_to_volumes "
    "sample_farthest_points sample_points_from_meshes SubdivideMeshes vert_align efficient_pnp "
    "box3d_overlap eyes wmean is_pointclouds convert_pointclouds_to_tensor",
    "inverse3d.ops.marching_cubes": "marching_cubes",
    "inverse3d.utils": "ico_sphere torus checkerboard cameras_from_opencv_projection "
    "opencv_from_cameras_projection",
}

CASES = [(mod, name) for mod, names in CONTRACT.items() for name in names.split()]


@pytest.mark.parametrize("module,name", CASES, ids=[f"{m}:{n}" for m, n in CASES])
def test_name_imports(module, name):
    mod = importlib.import_module(module)
    assert hasattr(mod, name), f"{module} has no {name}"
