"""Side-by-side parity with PyTorch3D 0.7.9 itself, when it is importable (skipped otherwise).

Run with the peer on the path, e.g. ``PYTHONPATH=.peer/p3d pytest tests/renderer/implicit``
(see ../shared/peers/). Without the peer's compiled extension (_C) a stub stands in for it, so
only PyTorch3D's pure-Python code is compared (samplers, marchers, VolumeSampler, harmonic
embedding, the Python reference rasterizer and sample_pdf); with the real extension the
compiled point rasterizer, sample_pdf and compositing are compared too.
"""

from __future__ import annotations

import sys
import types

import pytest
import torch

pytest.importorskip("pytorch3d")

import pytorch3d  # noqa: E402

try:
    from pytorch3d import _C as _p3d_C  # noqa: F401

    HAS_C = hasattr(_p3d_C, "rasterize_points") and type(_p3d_C).__name__ != "_StubC"
except ImportError:
    HAS_C = False

if not HAS_C and "pytorch3d._C" not in sys.modules:

    class _StubC(types.ModuleType):
        """Stands in for the compiled extension: module-level constants read at import."""

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return 1

    sys.modules["pytorch3d._C"] = _StubC("pytorch3d._C")
    pytorch3d._C = sys.modules["pytorch3d._C"]

import pytorch3d.renderer as P  # noqa: E402
from pytorch3d.renderer.implicit.sample_pdf import sample_pdf as p_sample_pdf  # noqa: E402
from pytorch3d.renderer.implicit.sample_pdf import sample_pdf_python  # noqa: E402
from pytorch3d.renderer.points.rasterize_points import rasterize_points_python  # noqa: E402
from pytorch3d.structures import Pointclouds as PPointclouds  # noqa: E402
from pytorch3d.structures import Volumes as PVolumes  # noqa: E402

from inverse3d.renderer.cameras import FoVPerspectiveCameras, PerspectiveCameras  # noqa: E402
from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding  # noqa: E402
from inverse3d.renderer.implicit.raymarching import (  # noqa: E402
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
)
from inverse3d.renderer.implicit.raysampling import (  # noqa: E402
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCMultinomialRaysampler,
)
from inverse3d.renderer.implicit.renderer import VolumeRenderer, VolumeSampler  # noqa: E402
from inverse3d.renderer.implicit.sample_pdf import sample_pdf  # noqa: E402
from inverse3d.renderer.implicit.utils import RayBundle  # noqa: E402
from inverse3d.renderer.look_at import look_at_view_transform  # noqa: E402
from inverse3d.renderer.points.rasterize_points import rasterize_points  # noqa: E402
from inverse3d.renderer.points.rasterizer import PointsRasterizer  # noqa: E402
from inverse3d.structures.pointclouds import Pointclouds  # noqa: E402
from inverse3d.structures.volumes import Volumes  # noqa: E402

needs_c = pytest.mark.skipif(not HAS_C, reason="needs PyTorch3D's compiled extension")


def _close(a, b, atol=1e-5):
    torch.testing.assert_close(a, b.to(a.dtype), atol=atol, rtol=atol)


def _camera_pair(kind):
    R, T = look_at_view_transform(
        dist=torch.tensor([2.7, 3.1]),
        elev=torch.tensor([10.0, -25.0]),
        azim=torch.tensor([30.0, 200.0]),
    )
    if kind == "fov":
        return FoVPerspectiveCameras(R=R, T=T, fov=50.0), P.FoVPerspectiveCameras(
            R=R, T=T, fov=50.0
        )
    f = torch.tensor([[1.7, 1.9]] * 2)
    pp = torch.tensor([[0.1, -0.05]] * 2)
    return (
        PerspectiveCameras(R=R, T=T, focal_length=f, principal_point=pp),
        P.PerspectiveCameras(R=R, T=T, focal_length=f, principal_point=pp),
    )


def _bundles_close(a, b):
    for name in ("origins", "directions", "lengths", "xys"):
        _close(getattr(a, name), getattr(b, name))


class TestRaysamplersParity:
    @pytest.mark.parametrize("kind", ["fov", "persp"])
    @pytest.mark.parametrize("W,H", [(7, 5), (5, 7)])
    def test_ndc_grid(self, kind, W, H):
        ours_c, theirs_c = _camera_pair(kind)
        kw = dict(image_width=W, image_height=H, n_pts_per_ray=4, min_depth=1.0, max_depth=3.0)
        _bundles_close(
            NDCMultinomialRaysampler(**kw)(ours_c), P.NDCMultinomialRaysampler(**kw)(theirs_c)
        )
        kw["unit_directions"] = True
        _bundles_close(
            NDCMultinomialRaysampler(**kw)(ours_c), P.NDCMultinomialRaysampler(**kw)(theirs_c)
        )

    def test_same_seed_same_random_rays(self):
        ours_c, theirs_c = _camera_pair("fov")
        kw = dict(
            min_x=0.9,
            max_x=-0.9,
            min_y=0.8,
            max_y=-0.8,
            image_width=6,
            image_height=5,
            n_pts_per_ray=5,
            min_depth=1.0,
            max_depth=3.0,
            stratified_sampling=True,
        )
        mask = (torch.rand(2, 5, 6) > 0.3).float()  # PyTorch3D wants float weights
        sparse = mask.clone()
        sparse[0, :, 1:] = 0  # 5 pixels at most: drawn with replacement
        calls = [{"n_rays_per_image": 7}, {"mask": mask}, {"mask": sparse, "n_rays_per_image": 8}]
        if HAS_C:  # PyTorch3D packs heterogeneous bundles with its extension
            calls.append({"n_rays_total": 9})
        for call in calls:
            torch.manual_seed(3)
            a = MultinomialRaysampler(**kw)(ours_c, **call)
            torch.manual_seed(3)
            b = P.MultinomialRaysampler(**kw)(theirs_c, **call)
            _bundles_close(a, b)
        for extra in ({}, {"n_rays_total": 8}) if HAS_C else ({},):
            args = (-0.7, 0.9, -1.0, 0.6, None if extra else 11, 6, 1.0, 3.0)
            torch.manual_seed(4)
            a = MonteCarloRaysampler(*args, stratified_sampling=True, **extra)(ours_c)
            torch.manual_seed(4)
            b = P.MonteCarloRaysampler(*args, stratified_sampling=True, **extra)(theirs_c)
            _bundles_close(a, b)


class TestMarchersParity:
    def test_emission_absorption(self):
        d = torch.rand(3, 4, 9, 1)
        f = torch.rand(3, 4, 9, 5)
        for t in (1, 2):
            _close(EmissionAbsorptionRaymarcher(t)(d, f), P.EmissionAbsorptionRaymarcher(t)(d, f))
        _close(AbsorptionOnlyRaymarcher()(d), P.AbsorptionOnlyRaymarcher()(d))

    @pytest.mark.parametrize("logspace", [True, False])
    def test_harmonic_embedding(self, logspace):
        x = torch.randn(4, 5, 3)
        cov = torch.rand(4, 5, 3) * 0.1
        ours = HarmonicEmbedding(5, omega_0=0.8, logspace=logspace)
        theirs = P.HarmonicEmbedding(5, omega_0=0.8, logspace=logspace)
        _close(ours(x), theirs(x))
        _close(ours(x, diag_cov=cov), theirs(x, diag_cov=cov))
        assert ours.get_output_dim() == theirs.get_output_dim()

    @pytest.mark.parametrize("align_corners", [True, False])
    def test_volume_sampler(self, align_corners):
        dens = torch.rand(2, 1, 4, 5, 6)
        feat = torch.rand(2, 3, 4, 5, 6)
        kw = dict(
            voxel_size=(0.1, 0.2, 0.15),
            volume_translation=(0.1, -0.2, 0.05),
            align_corners=align_corners,
        )
        o = torch.randn(2, 7, 3) * 0.3
        dirs = torch.randn(2, 7, 3)
        lengths = torch.rand(2, 7, 4)
        bundle = RayBundle(o, dirs, lengths, torch.zeros(2, 7, 2))
        for mode in ("bilinear", "nearest"):
            a = VolumeSampler(Volumes(dens, feat, **kw), sample_mode=mode)(bundle)
            b = P.VolumeSampler(PVolumes(dens, feat, **kw), sample_mode=mode)(bundle)
            _close(a[0], b[0])
            _close(a[1], b[1])

    def test_sample_pdf_python_reference(self):
        bins = torch.sort(torch.rand(3, 8), dim=-1).values
        w = torch.rand(3, 7)
        w[0, 2:4] = 0
        _close(sample_pdf(bins, w, 11, det=True), sample_pdf_python(bins, w, 11, det=True))

    @needs_c
    def test_sample_pdf_compiled(self):
        bins = torch.sort(torch.rand(3, 8), dim=-1).values
        w = torch.rand(3, 7)
        # the extension weights bin i by w_i (eps once, at the end), ours and the Python
        # reference by w_i + eps: quantiles agree to O(eps) for non-empty bins
        _close(sample_pdf(bins, w, 11, det=True), p_sample_pdf(bins, w, 11, True), atol=1e-4)


class TestPointsParity:
    def _clouds(self):
        g = torch.Generator().manual_seed(0)
        pts = [torch.rand(9, 3, generator=g) * 2.2 - 1.1, torch.rand(5, 3, generator=g) * 2 - 1]
        pts[0][:, 2] += 0.4
        return pts

    def test_rasterize_points_python_reference(self):
        pts = self._clouds()
        ours = rasterize_points(Pointclouds(points=pts), (6, 8), radius=0.3, points_per_pixel=3)
        theirs = rasterize_points_python(PPointclouds(points=pts), (6, 8), 0.3, 3)
        torch.testing.assert_close(ours[0], theirs[0].long())
        _close(ours[1], theirs[1])
        _close(ours[2], theirs[2])

    @needs_c
    def test_rasterize_points_compiled(self):
        pts = self._clouds()
        r = torch.rand(2, 9) * 0.3 + 0.05
        ours = rasterize_points(Pointclouds(points=pts), (16, 12), radius=r, points_per_pixel=4)
        theirs = P.rasterize_points(
            PPointclouds(points=pts), (16, 12), radius=r, points_per_pixel=4
        )
        torch.testing.assert_close(ours[0], theirs[0].long())
        _close(ours[1], theirs[1])
        _close(ours[2], theirs[2])

    def test_rasterizer_transform(self):
        ours_c, theirs_c = _camera_pair("fov")
        pts = [p * 0.5 for p in self._clouds()]
        a = PointsRasterizer(ours_c).transform(Pointclouds(points=pts))
        b = P.PointsRasterizer(theirs_c).transform(PPointclouds(points=pts))
        _close(a.points_padded(), b.points_padded())

    @needs_c
    def test_compositing_compiled(self):
        from pytorch3d.renderer import compositing as pc

        from inverse3d.renderer import compositing as oc

        idx = torch.randint(-1, 6, (2, 3, 4, 5))
        alphas = torch.rand(2, 3, 4, 5)
        feats = torch.rand(3, 6)
        for name in ("alpha_composite", "norm_weighted_sum", "weighted_sum"):
            _close(getattr(oc, name)(idx, alphas, feats), getattr(pc, name)(idx, alphas, feats))


class TestRenderersParity:
    def test_volume_renderer(self):
        ours_c, theirs_c = _camera_pair("fov")
        dens = torch.rand(2, 1, 6, 7, 8)
        feat = torch.rand(2, 3, 6, 7, 8)
        kw = dict(image_width=9, image_height=7, n_pts_per_ray=20, min_depth=1.5, max_depth=4.0)
        ours = VolumeRenderer(NDCMultinomialRaysampler(**kw), EmissionAbsorptionRaymarcher())
        theirs = P.VolumeRenderer(
            P.NDCMultinomialRaysampler(**kw), P.EmissionAbsorptionRaymarcher()
        )
        a, _ = ours(ours_c, Volumes(dens, feat, voxel_size=0.3))
        b, _ = theirs(theirs_c, PVolumes(dens, feat, voxel_size=0.3))
        _close(a, b)

    def test_bundle_fields(self):
        import dataclasses

        from pytorch3d.renderer.points.rasterizer import PointFragments as PPointFragments

        from inverse3d.renderer.implicit.utils import HeterogeneousRayBundle
        from inverse3d.renderer.points.rasterizer import PointFragments

        assert RayBundle._fields == P.RayBundle._fields
        assert PointFragments._fields == PPointFragments._fields
        assert [f.name for f in dataclasses.fields(HeterogeneousRayBundle)] == [
            f.name for f in dataclasses.fields(P.HeterogeneousRayBundle)
        ]


def _params(fn):
    import inspect

    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self"
    ]


SIGNATURES = [
    (
        "inverse3d.renderer.implicit.raysampling",
        "pytorch3d.renderer.implicit.raysampling",
        [
            "MultinomialRaysampler",
            "NDCMultinomialRaysampler",
            "MonteCarloRaysampler",
            "GridRaysampler",
            "NDCGridRaysampler",
        ],
    ),
    (
        "inverse3d.renderer.implicit.raymarching",
        "pytorch3d.renderer.implicit.raymarching",
        ["EmissionAbsorptionRaymarcher", "AbsorptionOnlyRaymarcher"],
    ),
    (
        "inverse3d.renderer.implicit.renderer",
        "pytorch3d.renderer.implicit.renderer",
        ["ImplicitRenderer", "VolumeRenderer", "VolumeSampler"],
    ),
    (
        "inverse3d.renderer.implicit.harmonic_embedding",
        "pytorch3d.renderer.implicit.harmonic_embedding",
        ["HarmonicEmbedding"],
    ),
    (
        "inverse3d.renderer.implicit.utils",
        "pytorch3d.renderer.implicit.utils",
        ["ray_bundle_to_ray_points", "ray_bundle_variables_to_ray_points"],
    ),
    (
        "inverse3d.renderer.implicit.sample_pdf",
        "pytorch3d.renderer.implicit.sample_pdf",
        ["sample_pdf"],
    ),
    (
        "inverse3d.renderer.points.rasterize_points",
        "pytorch3d.renderer.points.rasterize_points",
        ["rasterize_points"],
    ),
    (
        "inverse3d.renderer.points.rasterizer",
        "pytorch3d.renderer.points.rasterizer",
        ["PointsRasterizer", "PointsRasterizationSettings"],
    ),
    (
        "inverse3d.renderer.points.compositor",
        "pytorch3d.renderer.points.compositor",
        ["AlphaCompositor", "NormWeightedCompositor"],
    ),
    (
        "inverse3d.renderer.points.renderer",
        "pytorch3d.renderer.points.renderer",
        ["PointsRenderer"],
    ),
    (
        "inverse3d.renderer.compositing",
        "pytorch3d.renderer.compositing",
        ["alpha_composite", "norm_weighted_sum", "weighted_sum"],
    ),
]


@pytest.mark.parametrize("ours_mod,theirs_mod,names", SIGNATURES)
def test_signatures_match(ours_mod, theirs_mod, names):
    import importlib

    ours, theirs = importlib.import_module(ours_mod), importlib.import_module(theirs_mod)
    for name in names:
        a, b = getattr(ours, name), getattr(theirs, name)
        methods = ["__init__", "forward"] if isinstance(b, type) else [None]
        for m in methods:
            fa = a if m is None else getattr(a, m, None)
            fb = b if m is None else getattr(b, m, None)
            if fb is None or (m == "forward" and fb is torch.nn.Module.forward):
                continue
            assert _params(fa) == _params(fb), f"{name}.{m or ''}"
