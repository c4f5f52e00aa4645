"""PyTorch3D 0.7.9 semantics that user code relies on (issue 14, items 1, 3, 4, 7, 8, 9).

Expected values and behaviours are read from PyTorch3D's source (file and function named in
each test); none of them is produced by inverse3d itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from inverse3d.renderer.cameras import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    get_world_to_view_transform,
)
from inverse3d.transforms import Rotate, RotateAxisAngle, Scale, Transform3d, Translate

F32, F64 = torch.float32, torch.float64


def _load_error_cases():
    path = Path(__file__).with_name("pytorch3d_error_cases.py")
    spec = importlib.util.spec_from_file_location("pytorch3d_error_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pytorch3d_error_cases = _load_error_cases()
CAMERAS = (FoVPerspectiveCameras, FoVOrthographicCameras, PerspectiveCameras, OrthographicCameras)


def _scipy_rotation(seed: int = 0) -> torch.Tensor:
    from scipy.spatial.transform import Rotation

    return torch.from_numpy(Rotation.random(random_state=seed).as_matrix())[None]  # float64


class TestTransformDtype:
    """pytorch3d/transforms/transform3d.py: Translate/Scale/Rotate/RotateAxisAngle take
    dtype=torch.float32 and cast their tensor inputs to it (`x.to(device=..., dtype=dtype)` in
    _handle_input, `R.to(device=device_, dtype=dtype)` in Rotate)."""

    def test_subclasses_cast_float64_inputs_to_float32(self):
        R = _scipy_rotation()
        t64 = torch.tensor([[0.1, 0.2, 0.3]], dtype=F64)
        for tr in (
            Rotate(R),
            Translate(t64),
            Translate(t64[:, 0], t64[:, 1], t64[:, 2]),
            Scale(t64),
            Scale(torch.tensor([2.0], dtype=F64)),
            RotateAxisAngle(torch.tensor([30.0], dtype=F64)),
        ):
            assert tr.dtype == F32 and tr.get_matrix().dtype == F32
            assert tr.transform_points(torch.rand(4, 3)).dtype == F32

    def test_explicit_dtype_wins(self):
        R = _scipy_rotation().float()
        assert Rotate(R, dtype=F64).get_matrix().dtype == F64
        assert Translate(1.0, 2.0, 3.0, dtype=F64).get_matrix().dtype == F64

    def test_matrix_keeps_its_dtype(self):
        # Transform3d(matrix=m): "set dtype and device from matrix"
        assert Transform3d(matrix=torch.eye(4, dtype=F64)).dtype == F64


class TestCameraDtype:
    """pytorch3d/renderer/cameras.py: get_world_to_view_transform is
    Rotate(R).compose(Translate(T)) with the default dtype, the FoV projections fill
    torch.zeros(..., dtype=torch.float32) and the NDC / screen transforms are float32: a camera's
    transforms are float32 whatever the dtypes of R and T."""

    @pytest.mark.parametrize("cls", CAMERAS)
    def test_float64_R_float32_T(self, cls):
        cam = cls(R=_scipy_rotation(), T=torch.tensor([[0.0, 0.0, 3.0]]))
        verts = torch.rand(5, 3)
        w2v = cam.get_world_to_view_transform()
        assert w2v.get_matrix().dtype == F32
        out = w2v.transform_points(verts)
        assert out.dtype == F32
        ref = verts.double() @ _scipy_rotation()[0] + torch.tensor([0.0, 0.0, 3.0], dtype=F64)
        assert torch.allclose(out.double(), ref, atol=1e-6)
        assert cam.get_full_projection_transform().get_matrix().dtype == F32
        assert cam.transform_points(verts).dtype == F32
        assert cam.get_camera_center().dtype == F32

    @pytest.mark.parametrize("cls", CAMERAS)
    def test_all_float64_inputs_still_float32(self, cls):
        cam = cls(R=_scipy_rotation(), T=torch.tensor([[0.0, 0.0, 3.0]], dtype=F64))
        assert cam.transform_points(torch.rand(5, 3)).dtype == F32
        assert cam[0].get_world_to_view_transform().dtype == F32
        assert cam.clone().get_projection_transform().get_matrix().dtype == F32

    def test_screen_space_transforms(self):
        cam = PerspectiveCameras(
            focal_length=torch.tensor([[20.0, 20.0]], dtype=F64),
            principal_point=((8.0, 8.0),),
            in_ndc=False,
            image_size=((16, 16),),
            R=_scipy_rotation(),
            T=torch.tensor([[0.0, 0.0, 3.0]]),
        )
        assert cam.transform_points_screen(torch.rand(5, 3)).dtype == F32
        assert cam.transform_points_ndc(torch.rand(5, 3)).dtype == F32

    def test_module_function(self):
        w2v = get_world_to_view_transform(_scipy_rotation(), torch.zeros(1, 3, dtype=F64))
        assert w2v.get_matrix().dtype == F32

    def test_float64_opt_in(self):
        # inverse3d addition (PyTorch3D has no float64 cameras): dtype= for float64 work
        R = _scipy_rotation()
        cam = FoVPerspectiveCameras(R=R, T=torch.zeros(1, 3), dtype=F64)
        pts = torch.rand(1, 5, 3, dtype=F64) + torch.tensor([0.0, 0.0, 2.0], dtype=F64)
        assert cam.transform_points(pts).dtype == F64
        assert cam[0].get_world_to_view_transform().dtype == F64
        with pytest.raises(TypeError, match="dtype"):
            FoVPerspectiveCameras(dtype=torch.int64)


class TestPackedPadded:
    """pytorch3d/ops/packed_to_padded.py: packed_to_padded takes (F,) or (F, ...) and returns
    (N, max_size, ...); padded_to_packed(inputs, first_idxs, num_inputs, max_size_dim=1) moves
    max_size_dim to 1 (`inputs.movedim(max_size_dim, 1)`) and returns (F, ...). Its test
    (tests/test_packed_to_padded.py) packs values.transpose(1, 2) with max_size_dim=2."""

    def setup_method(self):
        torch.manual_seed(0)
        self.sizes = [3, 0, 5, 2]
        self.first = torch.tensor([0, 3, 3, 8])
        self.F, self.M = sum(self.sizes), max(self.sizes)

    def _padded_loop(self, packed):
        out = packed.new_zeros(len(self.sizes), self.M, *packed.shape[1:])
        for i, (f, n) in enumerate(zip(self.first.tolist(), self.sizes)):
            out[i, :n] = packed[f : f + n]
        return out

    @pytest.mark.parametrize("dims", [(), (4,), (4, 2), (3, 2, 2)])
    def test_trailing_dims_round_trip(self, dims):
        from inverse3d.ops import packed_to_padded, padded_to_packed

        packed = torch.rand(self.F, *dims, dtype=F64, requires_grad=True)
        padded = packed_to_padded(packed, self.first, self.M)
        assert padded.shape == (4, self.M, *dims)
        assert torch.equal(padded, self._padded_loop(packed.detach()))
        back = padded_to_packed(padded, self.first, self.F)
        assert back.shape == packed.shape and torch.equal(back, packed)
        assert torch.autograd.gradcheck(
            lambda x: padded_to_packed(packed_to_padded(x, self.first, self.M), self.first, self.F),
            (packed,),
        )

    @pytest.mark.parametrize("dims", [(4,), (4, 2)])
    def test_max_size_dim(self, dims):
        from inverse3d.ops import padded_to_packed

        packed = torch.rand(self.F, *dims)
        padded = self._padded_loop(packed)  # (N, M, *dims)
        moved = padded.movedim(1, 2)  # (N, dims[0], M, ...)
        assert torch.equal(padded_to_packed(moved, self.first, self.F, max_size_dim=2), packed)
        moved_last = padded.movedim(1, -1)
        out = padded_to_packed(moved_last, self.first, self.F, max_size_dim=-1)
        assert torch.equal(out, packed)  # the other dimensions keep their order


class TestRaymarcherInputs:
    """pytorch3d/renderer/implicit/raymarching.py: both marchers call _check_density_bounds,
    which only warns ("One or more elements of rays_densities are outside of valid range");
    _check_raymarcher_inputs raises ValueError with the phrases used below."""

    def test_warn_by_default_raise_when_strict(self):
        from inverse3d.renderer.implicit import (
            AbsorptionOnlyRaymarcher,
            EmissionAbsorptionRaymarcher,
        )

        dens = torch.tensor([0.5, 1.5, -0.2]).view(1, 3, 1)
        feats = torch.rand(1, 3, 2)
        with pytest.warns(UserWarning, match="outside of valid range"):
            out = EmissionAbsorptionRaymarcher()(rays_densities=dens, rays_features=feats)
        # the formula is applied to the raw values, as PyTorch3D does: opacity 1 - prod(1 - d)
        assert torch.allclose(out[0, -1], 1 - (0.5 * -0.5 * 1.2) * torch.ones(()))
        with pytest.warns(UserWarning, match="outside of valid range"):
            ao = AbsorptionOnlyRaymarcher()(rays_densities=dens)
        assert torch.allclose(ao, out[..., -1:])
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            EmissionAbsorptionRaymarcher(strict_densities=True)(dens, feats)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            AbsorptionOnlyRaymarcher(strict_densities=True)(dens)

    def test_argument_types(self):
        from inverse3d.renderer.implicit import EmissionAbsorptionRaymarcher

        marcher = EmissionAbsorptionRaymarcher()
        dens = torch.rand(2, 5, 1, dtype=F64)
        feats = torch.rand(2, 5, 3, dtype=F64)
        # float64, eps and extra keywords (ray_bundle=..., as ImplicitRenderer passes) accepted
        out = marcher(rays_densities=dens, rays_features=feats, eps=1e-3, ray_bundle=None, x=1)
        assert out.shape == (2, 4) and out.dtype == F64
        with pytest.raises(ValueError, match="rays_features has to be an instance"):
            marcher(rays_densities=dens, rays_features=None)
        with pytest.raises(ValueError, match="rays_densities has to be an instance"):
            marcher(rays_densities=[[0.5]], rays_features=feats)
        with pytest.raises(ValueError, match="last dimension of rays_densities has to be one"):
            marcher(rays_densities=torch.rand(2, 5, 2), rays_features=feats)
        with pytest.raises(ValueError, match="first to previous to last dimensions"):
            marcher(rays_densities=torch.rand(2, 4, 1), rays_features=torch.rand(2, 5, 3))

    def test_private_check_signature(self):
        import inspect

        from inverse3d.renderer.implicit import raymarching

        sig = inspect.signature(raymarching._check_raymarcher_inputs)
        assert list(sig.parameters) == [
            "rays_densities",
            "rays_features",
            "rays_z",
            "features_can_be_none",
            "z_can_be_none",
            "density_1d",
        ]
        assert [p.default for p in list(sig.parameters.values())[3:]] == [False, False, True]
        sig = inspect.signature(raymarching._check_density_bounds)
        assert sig.parameters["bounds"].default == (0.0, 1.0)
        check = raymarching._check_raymarcher_inputs
        check(torch.rand(2, 4, 2), torch.rand(2, 4, 3), torch.rand(2, 4), density_1d=False)
        check(torch.rand(2, 4, 1), None, None, features_can_be_none=True, z_can_be_none=True)
        with pytest.raises(ValueError, match="rays_z has to be an instance"):
            check(torch.rand(2, 4, 1), torch.rand(2, 4, 3), None)
        with pytest.raises(ValueError, match="rays_z have to be of the same shape"):
            check(torch.rand(2, 4, 1), torch.rand(2, 4, 3), torch.rand(2, 5))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            raymarching._check_density_bounds(torch.tensor([0.5, 1.5]), bounds=(0.0, 2.0))
        with pytest.warns(UserWarning, match="outside of valid range"):
            raymarching._check_density_bounds(torch.tensor([-0.5]))


class TestLightsMaterials:
    """pytorch3d/renderer/lighting.py documents light inputs as "3 element tuple/list or list
    of lists, torch tensor of shape (1, 3), torch tensor of shape (N, 3)"; TensorProperties
    .__getitem__ returns a TensorAccessor (pytorch3d/renderer/utils.py) whose attributes are
    the properties at that index; clone() copies every property."""

    @pytest.mark.parametrize(
        "cls, field",
        [
            ("DirectionalLights", "diffuse_color"),
            ("DirectionalLights", "specular_color"),
            ("DirectionalLights", "ambient_color"),
            ("DirectionalLights", "direction"),
            ("PointLights", "diffuse_color"),
            ("PointLights", "location"),
            ("AmbientLights", "ambient_color"),
            ("Materials", "diffuse_color"),
            ("Materials", "specular_color"),
            ("Materials", "ambient_color"),
        ],
    )
    @pytest.mark.parametrize("form", ["tuple", "list", "tensor", "array"])
    def test_flat_three_element_input(self, cls, field, form):
        import inverse3d.renderer as r

        flat = (0.1, 0.2, 0.3)
        value = {
            "tuple": flat,
            "list": list(flat),
            "tensor": torch.tensor(flat),
            "array": np.array(flat, dtype=np.float32),
        }[form]
        obj = getattr(r, cls)(**{field: value})
        ref = getattr(r, cls)(**{field: (flat,)})
        assert torch.equal(getattr(obj, field), getattr(ref, field))
        for name in ("ambient_color", "diffuse_color", "specular_color"):
            assert torch.equal(getattr(obj, name), getattr(ref, name))
        assert torch.equal(getattr(obj.clone(), field), getattr(ref, field))

    def test_flat_colour_broadcasts_against_a_batch(self):
        from inverse3d.renderer import PointLights

        lights = PointLights(diffuse_color=(0.1, 0.2, 0.3), location=torch.rand(4, 3))
        assert lights.diffuse_color.shape == (4, 3) and len(lights) == 4
        normals = torch.nn.functional.normalize(torch.rand(4, 5, 3), dim=-1)
        out = lights.diffuse(normals, torch.rand(4, 5, 3))
        assert out.shape == (4, 5, 3)
        ratio = out / out[..., :1].clamp(min=1e-12)
        lit = out[..., 0] > 0
        assert torch.allclose(ratio[lit], torch.tensor([1.0, 2.0, 3.0]).expand(int(lit.sum()), 3))

    def test_render_flat_colour_equals_row(self):
        from inverse3d.renderer import (
            DirectionalLights,
            FoVPerspectiveCameras,
            MeshRasterizer,
            MeshRenderer,
            RasterizationSettings,
            SoftPhongShader,
            TexturesVertex,
            look_at_view_transform,
        )
        from inverse3d.structures import Meshes

        verts = torch.tensor([[-1.0, -1, 0], [1, -1, 0], [0, 1, 0]])
        mesh = Meshes([verts], [torch.tensor([[0, 1, 2]])])
        mesh.textures = TexturesVertex([torch.full((3, 3), 0.8)])
        R, T = look_at_view_transform(3.0, 0, 0)
        cams = FoVPerspectiveCameras(R=R, T=T)
        raster = MeshRasterizer(cams, RasterizationSettings(image_size=8))

        def render(lights):
            return MeshRenderer(raster, SoftPhongShader(cameras=cams, lights=lights))(mesh)

        flat = render(DirectionalLights(diffuse_color=(0.1, 0.2, 0.3), direction=(0, 0, 1)))
        row = render(DirectionalLights(diffuse_color=((0.1, 0.2, 0.3),), direction=((0, 0, 1),)))
        assert flat.shape == (1, 8, 8, 4) and torch.equal(flat, row)

    def test_accessor_and_clone(self):
        from inverse3d.renderer import DirectionalLights, Materials

        lights = DirectionalLights(ambient_color=((0.1, 0.2, 0.3), (0.4, 0.5, 0.6)))
        assert len(lights) == 2
        assert lights[1].ambient_color.tolist() == pytest.approx([0.4, 0.5, 0.6])
        assert lights[0:1].direction.shape == (1, 3)
        clone = lights.clone()
        assert type(clone) is DirectionalLights and clone.ambient_color is not lights.ambient_color
        assert torch.equal(clone[0].ambient_color, lights.ambient_color[0])
        assert torch.equal(clone.diffuse_color, lights.diffuse_color)
        mats = Materials(diffuse_color=(1.0, 0.0, 0.0), shininess=10)
        assert mats[0].shininess.item() == 10.0
        assert mats.clone()[0].diffuse_color.tolist() == [1.0, 0.0, 0.0]
        with pytest.raises(ValueError, match="Expected index of type int or slice"):
            lights[0.5]
        # writing through the accessor changes the property at that index only
        mats = Materials(diffuse_color=torch.zeros(2, 3))
        mats[1].diffuse_color = torch.tensor([0.7, 0.8, 0.9])
        assert mats.diffuse_color.tolist() == [[0.0, 0.0, 0.0], pytest.approx([0.7, 0.8, 0.9])]
        with pytest.raises(ValueError, match="Expected value to have shape"):
            mats[0:1].diffuse_color = torch.zeros(1, 4)


class TestScriptable:
    """PyTorch3D's tests/test_rotation_conversions.py and tests/test_so3.py (test_scriptable)
    call torch.jit.script on these functions; the scripted functions must also compute the
    same values as the Python ones."""

    ROTATION = [
        ("axis_angle_to_matrix", (3,)),
        ("axis_angle_to_quaternion", (3,)),
        ("matrix_to_axis_angle", (3, 3)),
        ("matrix_to_quaternion", (3, 3)),
        ("matrix_to_rotation_6d", (3, 3)),
        ("quaternion_to_matrix", (4,)),
        ("quaternion_to_axis_angle", (4,)),
        ("rotation_6d_to_matrix", (6,)),
        ("quaternion_invert", (4,)),
        ("standardize_quaternion", (4,)),
    ]

    @pytest.mark.parametrize("name, tail", ROTATION)
    def test_rotation_conversions(self, name, tail):
        from inverse3d.transforms import random_rotations, rotation_conversions

        fn = getattr(rotation_conversions, name)
        scripted = torch.jit.script(fn)
        torch.manual_seed(0)
        x = random_rotations(5) if tail == (3, 3) else torch.randn(5, *tail)
        assert torch.allclose(scripted(x), fn(x), atol=1e-6)

    def test_two_argument_functions(self):
        from inverse3d.transforms import rotation_conversions as rc

        torch.manual_seed(0)
        a, b, p = torch.randn(4, 4), torch.randn(4, 4), torch.randn(4, 3)
        for name in ("quaternion_multiply", "quaternion_raw_multiply"):
            fn = getattr(rc, name)
            assert torch.allclose(torch.jit.script(fn)(a, b), fn(a, b))
        apply = torch.jit.script(rc.quaternion_apply)
        assert torch.allclose(apply(a, p), rc.quaternion_apply(a, p), atol=1e-6)
        angles = torch.randn(4, 3)
        for name in ("euler_angles_to_matrix",):
            fn = getattr(rc, name)
            assert torch.allclose(torch.jit.script(fn)(angles, "ZYX"), fn(angles, "ZYX"))
        R = rc.random_rotations(4)
        fn = rc.matrix_to_euler_angles
        assert torch.allclose(torch.jit.script(fn)(R, "XYZ"), fn(R, "XYZ"), atol=1e-5)

    def test_random(self):
        from inverse3d.transforms import rotation_conversions as rc

        for name in ("random_quaternions", "random_rotations"):
            out = torch.jit.script(getattr(rc, name))(3, torch.float64, "cpu")
            assert out.shape[0] == 3 and out.dtype == F64
        assert torch.jit.script(rc.random_rotation)().shape == (3, 3)

    def test_so3(self):
        from inverse3d.transforms import so3

        torch.manual_seed(0)
        log_rot = torch.randn(6, 3)
        R = so3.so3_exp_map(log_rot)
        assert torch.allclose(torch.jit.script(so3.so3_exp_map)(log_rot), R)
        assert torch.allclose(torch.jit.script(so3.so3_log_map)(R), so3.so3_log_map(R))
        for name in ("hat", "so3_rotation_angle"):
            arg = log_rot if name == "hat" else R
            fn = getattr(so3, name)
            assert torch.allclose(torch.jit.script(fn)(arg), fn(arg))
        rel = so3.so3_relative_angle(R, R.flip(0))
        assert torch.allclose(torch.jit.script(so3.so3_relative_angle)(R, R.flip(0)), rel)
        h = so3.hat(log_rot)
        assert torch.equal(torch.jit.script(so3.hat_inv)(h), so3.hat_inv(h))

    def test_checks_still_run(self):
        from inverse3d.transforms import quaternion_to_matrix, so3_exp_map

        # inside TorchScript the ValueError comes wrapped in a RuntimeError (as in PyTorch3D)
        with pytest.raises((ValueError, RuntimeError), match=r"\(\.\.\., 4\)"):
            torch.jit.script(quaternion_to_matrix)(torch.rand(2, 3))
        with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
            quaternion_to_matrix(torch.rand(2, 3))
        with pytest.raises(ValueError, match=r"\(N, 3\)"):
            so3_exp_map(torch.rand(2, 4))


class TestErrorPhrases:
    """Each case of pytorch3d_error_cases.py: the exception type PyTorch3D raises and its key
    phrase (structures/, renderer/cameras.py, loss/, ops/ of PyTorch3D 0.7.9)."""

    @pytest.mark.parametrize("case_id", [c[0] for c in pytorch3d_error_cases.CASES])
    def test_same_type_and_phrase(self, case_id):
        import inverse3d

        [(_, exc, phrase, call)] = [
            c for c in pytorch3d_error_cases.cases(inverse3d) if c[0] == case_id
        ]
        with pytest.raises(exc) as info:
            call()
        assert phrase in str(info.value)


class TestReferenceFunctions:
    """The pure-Python reference functions PyTorch3D exposes (renderer/mesh/rasterize_meshes.py,
    ops/marching_cubes.py, ops/sample_farthest_points.py): same paths and signatures, checked
    against analytic values and brute-force loops written here."""

    def test_signatures(self):
        import inspect

        from inverse3d.ops.marching_cubes import marching_cubes_naive
        from inverse3d.ops.sample_farthest_points import sample_farthest_points_naive

        rm = importlib.import_module("inverse3d.renderer.mesh.rasterize_meshes")

        params = list(inspect.signature(rm.rasterize_meshes_python).parameters.values())
        assert [(p.name, p.default) for p in params[1:]] == [
            ("image_size", 256),
            ("blur_radius", 0.0),
            ("faces_per_pixel", 8),
            ("perspective_correct", False),
            ("clip_barycentric_coords", False),
            ("cull_backfaces", False),
            ("z_clip_value", None),
            ("cull_to_frustum", True),
            ("clipped_faces_neighbor_idx", None),
        ]
        assert list(inspect.signature(rm.barycentric_coordinates).parameters) == [
            "p",
            "v0",
            "v1",
            "v2",
        ]
        assert list(inspect.signature(marching_cubes_naive).parameters) == [
            "vol_batch",
            "isolevel",
            "return_local_coords",
        ]
        assert list(inspect.signature(sample_farthest_points_naive).parameters) == [
            "points",
            "lengths",
            "K",
            "random_start_point",
        ]

    def test_point_helpers(self):
        from inverse3d.renderer.mesh.rasterize_meshes import (
            barycentric_coordinates,
            edge_function,
            point_line_distance,
            point_triangle_distance,
        )

        t = torch.tensor
        # v0 -> v1 points up the y axis; p = (1, 0) lies on its right: area +1
        assert edge_function(t([1.0, 0]), t([0.0, 0]), t([0.0, 1])).item() == 1.0
        assert edge_function(t([-1.0, 0]), t([0.0, 0]), t([0.0, 1])).item() == -1.0
        v0, v1, v2 = t([0.1, 0.2]), t([0.9, -0.3]), t([0.4, 0.8])
        w = t([0.2, 0.5, 0.3])
        p = w[0] * v0 + w[1] * v1 + w[2] * v2
        got = torch.stack(barycentric_coordinates(p, v0, v1, v2))
        assert torch.allclose(got, w, atol=1e-6)
        # squared distances
        seg = (t([-1.0, 0.0]), t([1.0, 0.0]))
        assert point_line_distance(t([0.0, 1.0]), *seg).item() == pytest.approx(1.0)
        assert point_line_distance(t([3.0, 0.0]), *seg).item() == pytest.approx(4.0)
        dot = t([0.5, 0.5])
        assert point_line_distance(t([0.5, 1.5]), dot, dot).item() == pytest.approx(1.0)
        centroid = t([1 / 3, 1 / 3])
        tri = (t([0.0, 0.0]), t([1.0, 0.0]), t([0.0, 1.0]))
        assert point_triangle_distance(centroid, *tri).item() == pytest.approx(1 / 18)
        with pytest.raises(ValueError, match="same number of coordinates"):
            point_line_distance(t([0.0, 1.0, 2.0]), *seg)

    def test_rasterize_meshes_python_brute_force(self):
        from inverse3d.renderer.mesh.rasterize_meshes import (
            barycentric_coordinates,
            pix_to_non_square_ndc,
            rasterize_meshes_python,
        )
        from inverse3d.structures import Meshes

        verts = torch.tensor(
            [
                [-0.9, -0.7, 2.0],
                [0.8, -0.6, 2.5],
                [0.1, 0.9, 3.0],
                [-0.2, -0.9, 1.5],
                [0.93, 0.27, 1.8],
            ]
        )
        faces = torch.tensor([[0, 1, 2], [3, 4, 2]])
        H, W = 6, 8
        p2f, zbuf, bary, _ = rasterize_meshes_python(
            Meshes([verts], [faces]), image_size=(H, W), faces_per_pixel=1
        )
        want_face = torch.full((H, W), -1)
        want_z = torch.full((H, W), -1.0)
        for yi in range(H):
            y = pix_to_non_square_ndc(H - 1 - yi, H, W)  # +Y up: row 0 is the top
            for xi in range(W):
                x = pix_to_non_square_ndc(W - 1 - xi, W, H)  # +X left: column 0 is +X
                best = None
                for f, face in enumerate(faces.tolist()):
                    a, b, c = (verts[i] for i in face)
                    w = barycentric_coordinates(torch.tensor([x, y]), a[:2], b[:2], c[:2])
                    if all(float(wi) > 0 for wi in w):
                        z = float(w[0] * a[2] + w[1] * b[2] + w[2] * c[2])
                        if best is None or z < best[1]:
                            best = (f, z)
                if best is not None:
                    want_face[yi, xi], want_z[yi, xi] = best
        assert (want_face >= 0).sum() > 10
        assert torch.equal(p2f[0, ..., 0], want_face)
        assert torch.allclose(zbuf[0, ..., 0], want_z, atol=1e-5)
        assert torch.allclose(bary[0, ..., 0, :].sum(-1)[want_face >= 0], torch.ones(1))

    def test_marching_cubes_naive(self):
        from inverse3d.ops.marching_cubes import marching_cubes, marching_cubes_naive

        n = 16
        g = torch.linspace(-1, 1, n)
        z, y, x = torch.meshgrid(g, g, g, indexing="ij")
        vol = (x**2 + y**2 + z**2).sqrt()[None]  # distance to the centre
        verts, faces = marching_cubes_naive(vol, isolevel=0.6)
        radius = verts[0].norm(dim=1)  # local coords span [-1, 1] like the grid
        assert len(faces[0]) > 100 and (radius - 0.6).abs().max() < 0.03
        ref_v, ref_f = marching_cubes(vol, isolevel=0.6)
        assert torch.equal(verts[0], ref_v[0]) and torch.equal(faces[0], ref_f[0])

    def test_sample_farthest_points_naive(self):
        from inverse3d.ops.sample_farthest_points import sample_farthest_points_naive

        torch.manual_seed(0)
        pts = torch.rand(2, 30, 3)
        lengths = torch.tensor([30, 12])
        out, idx = sample_farthest_points_naive(pts, lengths=lengths, K=5)
        for n in range(2):
            cloud = pts[n, : lengths[n]]
            chosen = [0]
            dist = (cloud - cloud[0]).pow(2).sum(1)
            for _ in range(4):
                nxt = int(dist.argmax())
                chosen.append(nxt)
                dist = torch.minimum(dist, (cloud - cloud[nxt]).pow(2).sum(1))
            assert idx[n].tolist() == chosen
            assert torch.equal(out[n], cloud[chosen])
