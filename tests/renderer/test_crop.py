"""crop_cameras: a crop rendered by changing the intrinsics equals the window of the full render."""

from __future__ import annotations

import math

import pytest
import torch

from inverse3d.datasets.synthetic import mug_mesh
from inverse3d.renderer.cameras import PerspectiveCameras
from inverse3d.renderer.crop import crop_cameras, crop_images, ndc_cameras, random_crop_windows
from inverse3d.renderer.look_at import look_at_view_transform
from inverse3d.renderer.mesh.render_views import render_mesh_views


@pytest.fixture(scope="module")
def mesh():
    return mug_mesh(0)


def cameras(H: int, W: int, in_ndc: bool) -> PerspectiveCameras:
    R, T = look_at_view_transform(2.9, [20.0, 40.0], [30.0, 200.0])
    f = 1.0 / math.tan(math.radians(20.0))
    pp = torch.tensor([[0.05, -0.1], [0.0, 0.08]])
    if in_ndc:
        return PerspectiveCameras(
            focal_length=f, principal_point=pp, R=R, T=T, image_size=((H, W),) * 2
        )
    s = min(H, W) / 2.0
    # the same cameras in pixels: pp_px = (W/2 - px s, H/2 - py s)
    pp_px = torch.stack([W / 2 - pp[:, 0] * s, H / 2 - pp[:, 1] * s], -1)
    return PerspectiveCameras(
        focal_length=f * s,
        principal_point=pp_px,
        R=R,
        T=T,
        in_ndc=False,
        image_size=((H, W),) * 2,
    )


@pytest.mark.parametrize("in_ndc", [True, False])
@pytest.mark.parametrize("size", [(40, 40), (36, 48)])
def test_crop_equals_window(mesh, in_ndc, size):
    H, W = size
    cams = cameras(H, W, in_ndc)
    full = render_mesh_views(mesh, cams, (H, W), supersample=1)
    tops = torch.tensor([3, 11])
    lefts = torch.tensor([9, 0])
    for h, w in ((20, 20), (24, 30), (H, W - 5)):
        t, l_ = tops.clamp(max=H - h), lefts.clamp(max=W - w)
        crop = render_mesh_views(
            mesh, crop_cameras(cams, (H, W), t, l_, h, w), (h, w), supersample=1
        )
        window = crop_images(full, t, l_, h, w)
        assert window[..., 3].sum() > 20  # the object is in the window
        # identical pixel centres: equal up to float rounding at a few edge pixels
        bad = ((crop - window).abs().amax(-1) > 1e-4).float().mean()
        assert bad <= 0.002, f"{bad:.4f} of the pixels differ"


def test_ndc_and_screen_cameras_agree(mesh):
    a = render_mesh_views(mesh, cameras(36, 48, True), (36, 48), supersample=1)
    b = render_mesh_views(mesh, cameras(36, 48, False), (36, 48), supersample=1)
    assert ((a - b).abs().amax(-1) > 1e-4).float().mean() <= 0.002
    c = ndc_cameras(cameras(36, 48, False))
    assert c.in_ndc()
    assert torch.allclose(c.focal_length, cameras(36, 48, True).focal_length)
    assert torch.allclose(c.principal_point, cameras(36, 48, True).principal_point, atol=1e-6)


def test_random_windows_and_errors():
    g = torch.Generator().manual_seed(0)
    tops, lefts, h, w = random_crop_windows(50, (30, 40), 0.5, generator=g)
    assert (h, w) == (15, 20)
    assert tops.min() >= 0 and tops.max() <= 15 and lefts.max() <= 20
    assert len(set(tops.tolist())) > 5
    imgs = torch.arange(2 * 5 * 6).reshape(2, 5, 6).float()
    out = crop_images(imgs, torch.tensor([1, 0]), torch.tensor([2, 3]), 3, 2)
    assert torch.equal(out[0], imgs[0, 1:4, 2:4]) and torch.equal(out[1], imgs[1, 0:3, 3:5])
    with pytest.raises(ValueError, match="ratio"):
        random_crop_windows(2, 32, 1.5)
    with pytest.raises(ValueError, match="tops"):
        crop_images(imgs, torch.tensor([3, 0]), torch.tensor([0, 0]), 3, 2)
    with pytest.raises(TypeError, match="PerspectiveCameras"):
        crop_cameras(object(), 32, 0, 0, 8, 8)
