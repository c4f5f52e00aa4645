"""Signatures (parameter names, order and defaults) of PyTorch3D 0.7.9's public callables that
user code calls with keywords or positionally; "*" means any default (module-level constants)."""

from __future__ import annotations

import importlib
import inspect

import pytest

R = inspect.Parameter.empty
SIGS = {
    "renderer.mesh.rasterize_meshes:rasterize_meshes": [
        ("meshes", R),
        ("image_size", 256),
        ("blur_radius", 0.0),
        ("faces_per_pixel", 8),
        ("bin_size", None),
        ("max_faces_per_bin", None),
        ("perspective_correct", False),
        ("clip_barycentric_coords", False),
        ("cull_backfaces", False),
        ("z_clip_value", None),
        ("cull_to_frustum", False),
    ],
    "renderer.points.rasterize_points:rasterize_points": [
        ("pointclouds", R),
        ("image_size", 256),
        ("radius", 0.01),
        ("points_per_pixel", 8),
        ("bin_size", None),
        ("max_points_per_bin", None),
    ],
    "ops.knn:knn_points": [
        ("p1", R),
        ("p2", R),
        ("lengths1", None),
        ("lengths2", None),
        ("norm", 2),
        ("K", 1),
        ("version", -1),
        ("return_nn", False),
        ("return_sorted", True),
    ],
    "ops.knn:knn_gather": [("x", R), ("idx", R), ("lengths", None)],
    "ops.ball_query:ball_query": [
        ("p1", R),
        ("p2", R),
        ("lengths1", None),
        ("lengths2", None),
        ("K", 500),
        ("radius", 0.2),
        ("return_nn", True),
    ],
    "ops.sample_farthest_points:sample_farthest_points": [
        ("points", R),
        ("lengths", None),
        ("K", 50),
        ("random_start_point", False),
    ],
    "loss.chamfer:chamfer_distance": [
        ("x", R),
        ("y", R),
        ("x_lengths", None),
        ("y_lengths", None),
        ("x_normals", None),
        ("y_normals", None),
        ("weights", None),
        ("batch_reduction", "mean"),
        ("point_reduction", "mean"),
        ("norm", 2),
        ("single_directional", False),
        ("abs_cosine", True),
    ],
    "loss.mesh_laplacian_smoothing:mesh_laplacian_smoothing": [
        ("meshes", R),
        ("method", "uniform"),
    ],
    "loss.mesh_edge_loss:mesh_edge_loss": [("meshes", R), ("target_length", 0.0)],
    "loss.point_mesh_distance:point_mesh_face_distance": [
        ("meshes", R),
        ("pcls", R),
        ("min_triangle_area", 5e-3),
    ],
    "ops.interp_face_attrs:interpolate_face_attributes": [
        ("pix_to_face", R),
        ("barycentric_coords", R),
        ("face_attributes", R),
    ],
    "ops.packed_to_padded:packed_to_padded": [("inputs", R), ("first_idxs", R), ("max_size", R)],
    "ops.packed_to_padded:padded_to_packed": [("inputs", R), ("first_idxs", R), ("num_inputs", R)],
    "ops.laplacian_matrices:cot_laplacian": [("verts", R), ("faces", R), ("eps", 1e-12)],
    "ops.laplacian_matrices:norm_laplacian": [("verts", R), ("edges", R), ("eps", 1e-12)],
    "ops.marching_cubes:marching_cubes": [
        ("vol_batch", R),
        ("isolevel", None),
        ("return_local_coords", True),
    ],
    "renderer.implicit.sample_pdf:sample_pdf": [
        ("bins", R),
        ("weights", R),
        ("n_samples", R),
        ("det", False),
        ("eps", 1e-5),
    ],
    "renderer.implicit.harmonic_embedding:HarmonicEmbedding": [
        ("n_harmonic_functions", 6),
        ("omega_0", 1.0),
        ("logspace", True),
        ("append_input", True),
    ],
    "renderer.implicit.raysampling:NDCMultinomialRaysampler": [
        ("image_width", R),
        ("image_height", R),
        ("n_pts_per_ray", R),
        ("min_depth", R),
        ("max_depth", R),
        ("n_rays_per_image", None),
        ("n_rays_total", None),
        ("unit_directions", False),
        ("stratified_sampling", False),
    ],
    "renderer.implicit.raysampling:MultinomialRaysampler": [
        ("min_x", R),
        ("max_x", R),
        ("min_y", R),
        ("max_y", R),
        ("image_width", R),
        ("image_height", R),
        ("n_pts_per_ray", R),
        ("min_depth", R),
        ("max_depth", R),
        ("n_rays_per_image", None),
        ("n_rays_total", None),
        ("unit_directions", False),
        ("stratified_sampling", False),
    ],
    "renderer.implicit.raysampling:MonteCarloRaysampler": [
        ("min_x", R),
        ("max_x", R),
        ("min_y", R),
        ("max_y", R),
        ("n_rays_per_image", R),
        ("n_pts_per_ray", R),
        ("min_depth", R),
        ("max_depth", R),
        ("n_rays_total", None),
        ("unit_directions", False),
        ("stratified_sampling", False),
    ],
    "renderer.implicit.raymarching:EmissionAbsorptionRaymarcher": [("surface_thickness", 1)],
    "renderer.implicit.renderer:VolumeRenderer": [
        ("raysampler", R),
        ("raymarcher", R),
        ("sample_mode", "bilinear"),
    ],
    "renderer.implicit.renderer:VolumeSampler": [
        ("volumes", R),
        ("sample_mode", "bilinear"),
        ("padding_mode", "zeros"),
    ],
    "renderer.implicit.renderer:ImplicitRenderer": [("raysampler", R), ("raymarcher", R)],
    "renderer.points.rasterizer:PointsRasterizer": [("cameras", None), ("raster_settings", None)],
    "renderer.points.renderer:PointsRenderer": [("rasterizer", R), ("compositor", R)],
    "renderer.points.compositor:AlphaCompositor": [("background_color", None)],
    "renderer.mesh.rasterizer:MeshRasterizer": [("cameras", None), ("raster_settings", None)],
    "renderer.mesh.renderer:MeshRenderer": [("rasterizer", R), ("shader", R)],
    "renderer.mesh.shader:SoftPhongShader": [
        ("device", "cpu"),
        ("cameras", None),
        ("lights", None),
        ("materials", None),
        ("blend_params", None),
    ],
    "renderer.mesh.shader:HardPhongShader": [
        ("device", "cpu"),
        ("cameras", None),
        ("lights", None),
        ("materials", None),
        ("blend_params", None),
    ],
    "renderer.mesh.shader:SoftSilhouetteShader": [("blend_params", None)],
    "renderer.lighting:PointLights": [
        ("ambient_color", ((0.5, 0.5, 0.5),)),
        ("diffuse_color", ((0.3, 0.3, 0.3),)),
        ("specular_color", ((0.2, 0.2, 0.2),)),
        ("location", ((0, 1, 0),)),
        ("device", "cpu"),
    ],
    "renderer.lighting:DirectionalLights": [
        ("ambient_color", ((0.5, 0.5, 0.5),)),
        ("diffuse_color", ((0.3, 0.3, 0.3),)),
        ("specular_color", ((0.2, 0.2, 0.2),)),
        ("direction", ((0, 1, 0),)),
        ("device", "cpu"),
    ],
    "renderer.materials:Materials": [
        ("ambient_color", ((1, 1, 1),)),
        ("diffuse_color", ((1, 1, 1),)),
        ("specular_color", ((1, 1, 1),)),
        ("shininess", 64),
        ("device", "cpu"),
    ],
    "renderer.cameras:FoVPerspectiveCameras": [
        ("znear", 1.0),
        ("zfar", 100.0),
        ("aspect_ratio", 1.0),
        ("fov", 60.0),
        ("degrees", True),
        ("R", "*"),
        ("T", "*"),
        ("K", None),
        ("device", "cpu"),
    ],
    "renderer.cameras:FoVOrthographicCameras": [
        ("znear", 1.0),
        ("zfar", 100.0),
        ("max_y", 1.0),
        ("min_y", -1.0),
        ("max_x", 1.0),
        ("min_x", -1.0),
        ("scale_xyz", ((1.0, 1.0, 1.0),)),
        ("R", "*"),
        ("T", "*"),
        ("K", None),
        ("device", "cpu"),
    ],
    "renderer.cameras:PerspectiveCameras": [
        ("focal_length", 1.0),
        ("principal_point", ((0.0, 0.0),)),
        ("R", "*"),
        ("T", "*"),
        ("K", None),
        ("device", "cpu"),
        ("in_ndc", True),
        ("image_size", None),
    ],
    "renderer.cameras:OrthographicCameras": [
        ("focal_length", 1.0),
        ("principal_point", ((0.0, 0.0),)),
        ("R", "*"),
        ("T", "*"),
        ("K", None),
        ("device", "cpu"),
        ("in_ndc", True),
        ("image_size", None),
    ],
    "renderer.cameras:look_at_rotation": [
        ("camera_position", R),
        ("at", ((0, 0, 0),)),
        ("up", ((0, 1, 0),)),
        ("device", "cpu"),
    ],
    "renderer.cameras:camera_position_from_spherical_angles": [
        ("distance", R),
        ("elevation", R),
        ("azimuth", R),
        ("degrees", True),
        ("device", "cpu"),
    ],
    "renderer.blending:softmax_rgb_blend": [
        ("colors", R),
        ("fragments", R),
        ("blend_params", R),
        ("znear", 1.0),
        ("zfar", 100),
    ],
    "renderer.mesh.shading:phong_shading": [
        ("meshes", R),
        ("fragments", R),
        ("lights", R),
        ("cameras", R),
        ("materials", R),
        ("texels", R),
    ],
    "renderer.mesh.shading:gouraud_shading": [
        ("meshes", R),
        ("fragments", R),
        ("lights", R),
        ("cameras", R),
        ("materials", R),
    ],
    "renderer.mesh.shading:flat_shading": [
        ("meshes", R),
        ("fragments", R),
        ("lights", R),
        ("cameras", R),
        ("materials", R),
        ("texels", R),
    ],
    "structures.volumes:Volumes": [
        ("densities", R),
        ("features", None),
        ("voxel_size", 1.0),
        ("volume_translation", (0.0, 0.0, 0.0)),
        ("align_corners", True),
    ],
    "structures.pointclouds:Pointclouds": [("points", R), ("normals", None), ("features", None)],
    "structures.meshes:join_meshes_as_batch": [("meshes", R), ("include_textures", True)],
    "structures.meshes:join_meshes_as_scene": [("meshes", R), ("include_textures", True)],
    "io.obj_io:load_obj": [
        ("f", R),
        ("load_textures", True),
        ("create_texture_atlas", False),
        ("texture_atlas_size", 4),
        ("texture_wrap", "repeat"),
        ("device", "cpu"),
        ("path_manager", None),
    ],
    "io.obj_io:load_objs_as_meshes": [
        ("files", R),
        ("device", None),
        ("load_textures", True),
        ("create_texture_atlas", False),
        ("texture_atlas_size", 4),
        ("texture_wrap", "repeat"),
        ("path_manager", None),
    ],
    "io.ply_io:save_ply": [
        ("f", R),
        ("verts", R),
        ("faces", None),
        ("verts_normals", None),
        ("ascii", False),
        ("decimal_places", None),
        ("path_manager", None),
    ],
    "ops.vert_align:vert_align": [
        ("feats", R),
        ("verts", R),
        ("return_packed", False),
        ("interp_mode", "bilinear"),
        ("padding_mode", "zeros"),
        ("align_corners", True),
    ],
    "ops.points_alignment:corresponding_points_alignment": [
        ("X", R),
        ("Y", R),
        ("weights", None),
        ("estimate_scale", False),
        ("allow_reflection", False),
        ("eps", 1e-9),
    ],
    "ops.points_alignment:iterative_closest_point": [
        ("X", R),
        ("Y", R),
        ("init_transform", None),
        ("max_iterations", 100),
        ("relative_rmse_thr", 1e-6),
        ("estimate_scale", False),
        ("allow_reflection", False),
        ("verbose", False),
    ],
    "ops.mesh_filtering:taubin_smoothing": [
        ("meshes", R),
        ("lambd", 0.53),
        ("mu", -0.53),
        ("num_iter", 10),
    ],
    "ops.points_to_volumes:add_pointclouds_to_volumes": [
        ("pointclouds", R),
        ("initial_volumes", R),
        ("mode", "trilinear"),
        ("min_weight", 1e-4),
        ("rescale_features", True),
        ("_python", False),
    ],
    "ops.cubify:cubify": [
        ("voxels", R),
        ("thresh", R),
        ("feats", None),
        ("device", None),
        ("align", "topleft"),
    ],
    "ops.points_normals:estimate_pointcloud_normals": [
        ("pointclouds", R),
        ("neighborhood_size", 50),
        ("disambiguate_directions", True),
        ("use_symeig_workaround", True),
    ],
}


def _norm(v):
    if isinstance(v, tuple):
        return tuple(_norm(x) for x in v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


@pytest.mark.parametrize("key", sorted(SIGS))
def test_signature(key):
    mod, name = key.split(":")
    obj = getattr(importlib.import_module("inverse3d." + mod), name)
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = [
        p
        for p in inspect.signature(target).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    want = SIGS[key]
    got = [(p.name, p.default) for p in params]
    assert [g[0] for g in got[: len(want)]] == [w[0] for w in want], got
    for (gname, gdef), (_, wdef) in zip(got, want):
        assert wdef == "*" or _norm(gdef) == _norm(wdef), (gname, gdef, wdef)
