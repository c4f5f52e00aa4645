"""Upper bound of the silhouette fit: the TRUE mesh rendered by the fit's soft rasterizer.

    OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/bm_silhouette_bound.py [--size 64]
        [--views 16] [--sigmas 1e-4,3e-5,1e-5] [--data ../shared/data/book]

For the objects and placements of bm_silhouette.py, the soft IoU (the fit's loss, 1 - loss) and
the hard IoU (alpha > 0.5) of the ground-truth mesh rendered as the method renders it (sigmoid
blend, blur radius log(1/1e-4 - 1) sigma, 20 faces per pixel) against the training masks: in the
whole images at each sigma, and in the method's crop windows (`square_windows` around the masks,
margin 0.25, enlarged to --size, masks enlarged bilinearly and by area). A fit cannot score above
its own truth; the held-out evaluation, which renders with the masks' renderer, gives the truth 1.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bm_silhouette import _default_data, _object, _scene  # noqa: E402

from inverse3d.datasets.synthetic import make_synthetic_scene  # noqa: E402
from inverse3d.loss.silhouette_iou import silhouette_iou_loss  # noqa: E402
from inverse3d.ops.image_resize import resize_images  # noqa: E402
from inverse3d.ops.silhouette_init import silhouette_windows  # noqa: E402
from inverse3d.renderer.blending import BlendParams, sigmoid_alpha_blend  # noqa: E402
from inverse3d.renderer.crop import crop_cameras, crop_images, ndc_cameras  # noqa: E402
from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings  # noqa: E402


def ious(mesh, cameras, masks, size: int, sigma: float) -> tuple[float, float]:
    raster = RasterizationSettings(
        image_size=(size, size),
        blur_radius=math.log(1.0 / 1e-4 - 1.0) * sigma,
        faces_per_pixel=20,
    )
    with torch.no_grad():
        frags = MeshRasterizer(raster_settings=raster)(mesh.extend(len(cameras)), cameras=cameras)
        colors = torch.ones(*frags.pix_to_face.shape, 3)
        alpha = sigmoid_alpha_blend(colors, frags, BlendParams(sigma=sigma, gamma=1e-4))[..., 3]
    hard, truth = alpha > 0.5, masks > 0.5
    soft = 1.0 - float(silhouette_iou_loss(alpha, masks))
    return round(soft, 4), round(float((hard & truth).sum() / (hard | truth).sum()), 4)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--views", type=int, default=16)
    p.add_argument("--sigmas", default="1e-4,3e-5,1e-5")
    p.add_argument("--objects", default="mug,cow")
    p.add_argument("--data", default=str(_default_data()))
    args = p.parse_args(argv)
    base = make_synthetic_scene(n_views=args.views, n_test=4, image_size=args.size)
    for name in args.objects.split(","):
        mesh = _object(name, Path(args.data))
        if mesh is None:
            continue
        for placement in ("centred", "off-centre"):
            train = _scene(base, mesh, placement, args.size).train()
            gt = _scene(base, mesh, placement, args.size).gt_mesh
            row = {"object": name, "placement": placement}
            for sigma in map(float, args.sigmas.split(",")):
                row[f"whole sigma {sigma:g}"] = ious(
                    gt, train.cameras, train.masks, args.size, sigma
                )
            tops, lefts, side = silhouette_windows(train.masks, 0.25)
            cams = crop_cameras(ndc_cameras(train.cameras), args.size, tops, lefts, side, side)
            cut = crop_images(train.masks, tops, lefts, side, side)
            row["crop side"] = side
            for mode in ("bilinear", "area"):
                m = resize_images(cut, (args.size, args.size), mode)
                row[f"crop {mode} sigma 1e-4"] = ious(gt, cams, m, args.size, 1e-4)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
