"""The book's implicit workflows at test sizes: (a) voxel grid, (b) NeuralRadianceField on the cow.

Both run the example scripts' own functions (examples/book_voxel_cow.py, book_nerf_cow.py) on
16 training and 8 held-out renders of the textured cow at 24 x 24 made by our mesh renderer
(elevation 0, distance 2.7, held-out azimuths halfway between training ones), and assert a
held-out PSNR floor. Baselines on these held-out views: the all-black image (the renders'
background) scores 13.2 dB, the mean colour 14.1 dB. Both fitting tests are marked slow
(together about 35 s of CPU on an idle 2-core machine, mostly the 64^3 grid's updates).

The book-size network (60 harmonics, 256 units) is too slow to fit on a CPU in a test; the
failure it showed on the GPU (the field stays empty: the density floods every ray within a few
Adam steps, collapses, and Adam's second moment then freezes it) is caught by its first 20
steps on 16 rays of 128 points: `test_book_size_nerf_density_grows`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_CACHE: dict = {}


def _load(name: str):
    if name not in _CACHE:
        sys.path.insert(0, str(EXAMPLES))
        try:
            spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(EXAMPLES))
        _CACHE[name] = module
    return _CACHE[name]


def _cow_data(book_dir: Path) -> dict:
    """16 training + 8 held-out 24 x 24 renders, made once for both tests."""
    if "data" not in _CACHE:
        obj = book_dir / "chap2" / "data" / "cow_mesh" / "cow.obj"
        _CACHE["data"] = _load("book_voxel_cow").render_cow(
            obj, n_views=16, n_test=8, image_size=24
        )
    return _CACHE["data"]


def test_renders(book_dir):
    data = _cow_data(book_dir)
    assert data["train_images"].shape == (16, 24, 24, 3)
    assert data["test_images"].shape == (8, 24, 24, 3)
    # the cow covers a fifth of the image and is textured (not a flat silhouette)
    cover = float(data["train_silhouettes"].mean())
    assert 0.1 < cover < 0.4
    fg = data["train_images"][data["train_silhouettes"] > 0]
    assert float(fg.std()) > 0.1
    bg = data["train_images"][data["train_silhouettes"] == 0]
    assert float(bg.abs().max()) == 0.0


def test_targets_sampled_at_ray_xys(book_dir):
    """The NeRF loss samples target images at the rays' NDC points: at the pixel-centre rays
    of NDCMultinomialRaysampler it must return the images themselves (+X left, +Y up)."""
    from inverse3d.renderer.implicit.raysampling import NDCMultinomialRaysampler

    data = _cow_data(book_dir)
    sampler = NDCMultinomialRaysampler(
        image_width=24, image_height=24, n_pts_per_ray=2, min_depth=1.0, max_depth=2.0
    )
    rays = sampler(cameras=data["train_cameras"][[0, 5]])
    images = data["train_images"][[0, 5]]
    sampled = _load("book_nerf_cow").sample_images_at_ndc(images, rays.xys)
    torch.testing.assert_close(sampled, images, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_book_voxel_fit(book_dir):
    """(a) 64^3 voxel grid, 150 points per ray, Huber loss, Adam lr 0.1, 100 steps of 2 views.

    Measured: 23.1 dB held-out (24.6 dB at 32 x 32, 30.2 dB after 150 steps on 20 views).
    The floor, 20 dB, is 6.8 dB above the black image and 5.9 dB above the mean colour: the
    grid must have learnt the cow's shape and colours seen from new directions.
    """
    torch.manual_seed(0)
    res = _load("book_voxel_cow").fit_voxels(
        _cow_data(book_dir), volume_size=64, n_iter=100, batch_size=2, log_every=0
    )
    assert res["psnr_background"] < 14.0 and res["psnr_mean_colour"] < 15.0
    assert res["loss_history"][-1] < 0.2 * res["loss_history"][0]
    print(f"voxel held-out PSNR {res['psnr']:.2f} dB")
    assert res["psnr"] > 20.0, res["psnr"]


@pytest.mark.slow
def test_book_nerf_fit(book_dir):
    """(b) the book's NeuralRadianceField (8 harmonics, 64 units at test size), MonteCarlo rays
    (128 per step, 64 points), Huber loss, Adam lr 1e-3, 200 steps of one camera.

    Measured: 18.1 dB held-out with the example's 100-step learning-rate warm-up (19.3 dB
    without it, which this small network survives; 20.2 dB after 250 steps at 32 x 32).
    The floor, 17 dB, is 3.8 dB above the black image and 2.9 dB above the mean colour (a field
    that stayed empty scores exactly the black image's 13.2 dB, as lr 1e-2 does: the book's
    density bias of -1.5 behind a softplus(beta=10) leaves gradients of ~1e-6 that a too large
    first Adam step kills).
    """
    torch.manual_seed(0)
    res = _load("book_nerf_cow").train_nerf(
        _cow_data(book_dir),
        n_harmonic_functions=8,
        n_hidden_neurons=64,
        n_iter=200,
        batch_size=1,
        n_rays_per_image=128,
        n_pts_per_ray=64,
        lr=1e-3,
        log_every=0,
    )
    assert res["renders"].shape == (8, 24, 24, 4)
    print(f"nerf held-out PSNR {res['psnr']:.2f} dB")
    assert res["psnr"] > 17.0, res["psnr"]


def _opacity_run(book_dir, warmup_iters: int, seed: int) -> list:
    """Mean rendered opacity of each of 20 steps of the book-size network (60 harmonics, 256
    units), one camera, 16 rays of 128 points (the book's points per ray)."""
    res = _load("book_nerf_cow").train_nerf(
        _cow_data(book_dir),
        n_harmonic_functions=60,
        n_hidden_neurons=256,
        n_iter=20,
        batch_size=1,
        n_rays_per_image=16,
        n_pts_per_ray=128,
        log_every=0,
        seed=seed,
        warmup_iters=warmup_iters,
        evaluate=False,
    )
    return res["opacity_history"]


def test_book_size_nerf_density_grows(book_dir):
    """With the example's learning-rate warm-up the nearly empty initial volume (opacities
    ~1e-5: the density bias -1.5 behind softplus(beta=10)) fills steadily: the opacity grows
    over 20 steps and never falls back (measured: x150 for seed 0, x200 for seed 1, the last
    step the highest). Without the warm-up it rises x10 per step to ~0.2 and collapses to
    below its start (seed 0) or 1e-3 of its peak (seed 1): the run the GPU showed for 4000
    steps (see test_book_size_nerf_collapses_without_warmup)."""
    opac = _opacity_run(book_dir, warmup_iters=100, seed=0)
    assert opac[-1] > 20 * opac[0], opac
    assert opac[-1] > 0.5 * max(opac), opac


def test_book_size_nerf_collapses_without_warmup(book_dir):
    """The failure mode itself (the book's schedule with no warm-up): a flood, then a
    collapse to a small fraction of the peak, which the test above would flag."""
    opac = _opacity_run(book_dir, warmup_iters=0, seed=0)
    assert max(opac) > 0.05, opac
    assert opac[-1] < 0.01 * max(opac), opac


def test_lr_factor():
    """Linear warm-up to 1 over warmup_iters steps, 0.1 from 75 % of the steps (the book's)."""
    f = _load("book_nerf_cow").lr_factor
    assert f(0, 1000, 100) == pytest.approx(0.01)
    assert f(49, 1000, 100) == pytest.approx(0.5)
    assert f(99, 1000, 100) == 1.0 and f(500, 1000, 100) == 1.0
    assert f(749, 1000, 100) == 1.0 and f(750, 1000, 100) == pytest.approx(0.1)
    assert f(0, 1000, 0) == 1.0 and f(999, 1000, 0) == pytest.approx(0.1)


@pytest.mark.parametrize("name", ["book_voxel_cow", "book_nerf_cow"])
def test_main_cpu_smoke(book_dir, name, capsys):
    """The scripts' command lines at tiny sizes with --device cpu: they log the loss and end
    with the held-out PSNR."""
    obj = str(book_dir / "chap2" / "data" / "cow_mesh" / "cow.obj")
    common = ["--obj", obj, "--device", "cpu", "--n-views", "4", "--n-test", "1"]
    common += ["--image-size", "12", "--n-iter", "3", "--batch-size", "1", "--log-every", "1"]
    if name == "book_voxel_cow":
        extra = ["--volume-size", "8", "--n-pts-per-ray", "8"]
    else:
        extra = ["--n-harmonic", "2", "--n-hidden", "8", "--n-rays", "8", "--n-pts-per-ray", "8"]
    res = _load(name).main(common + extra)
    out = capsys.readouterr().out
    assert out.count("loss") == 3 and "held-out PSNR" in out
    assert len(res["loss_history"]) == 3
    assert res["renders"].shape == (1, 12, 12, 4) and res["renders"].device.type == "cpu"
