"""`inverse3d train-giraffe`: train a GIRAFFE generator (compositional generative feature fields)
on procedural images (--n-objects boxes or cylinders, random poses and colours, plain random
background).

The run folder gets model.pt (a plain dict {"format", "config", "generator", "discriminator"},
readable with `torch.load(weights_only=True)`), report.json (controllability of the trained and
the untrained generator, times, settings), samples.png, interpolation.png, loss.png and
history.json. See docs/giraffe.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from inverse3d.cli._common import (
    add_device_flag,
    add_run_folder_flags,
    verb_device,
    verb_run_folder,
)
from inverse3d.cli._flags import add_dataclass_flags, config_from_flags
from inverse3d.methods.giraffe import GiraffeConfig

SUMMARY = "Train GIRAFFE (compositional generative feature fields) on procedural images."
HELP = (
    "Train GIRAFFE (object and background feature fields, density-weighted composition, "
    "volume-rendered features, 2D neural renderer; GAN with R1) on procedural images into a run "
    "folder: model.pt, report.json with controllability checks, samples and interpolation grids."
)
EXAMPLES = (
    "inverse3d train-giraffe --steps 5000 --device cuda --name giraffe",
    "inverse3d train-giraffe --steps 2 --n-train 8 --batch-size 4 --image-size 16 --feature-size 8",
)

MODEL_FORMAT = "inverse3d-giraffe-1"
METRIC_DEFINITIONS = {
    "translation_corr_x": "Pearson correlation over n scenes of object 0's silhouette centroid "
    "(opacity-weighted, NDC x) with the camera projection of its centre",
    "translation_corr_y": "the same for NDC y",
    "appearance_iou": "IoU of the silhouettes (opacity > 0.5) before and after drawing new "
    "appearance codes",
    "mean_opacity": "mean object opacity at the feature resolution",
    "translation_corr_x_object{k}": "(n_objects > 1) translation_corr_x of object k, rendered alone",
    "translation_corr_y_object{k}": "(n_objects > 1) translation_corr_y of object k, rendered alone",
    "rotation_width_corr": "Pearson correlation, over n scenes x 8 angles (half a turn about y), "
    "of the change of object 0's silhouette width (opacity-weighted std of NDC x, minus its mean "
    "over the angles) with the change of the mesh renderer's silhouette width of the box fitted "
    "to the generator's canonical density (moments), posed alike",
    "rotation_width_ratio": "std of the generator's width changes / std of the ground truth's",
    "rotation_iou": "mean IoU of object 0's silhouette (opacity > 0.5) with that ground-truth "
    "box silhouette over the scenes and angles",
    "rotation_*_object{k}": "(n_objects > 1) the rotation checks of object k, rendered alone",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_device_flag(p)
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--eval-samples", type=int, default=100, help="scenes for the checks")
    add_run_folder_flags(p, "giraffe")
    add_dataclass_flags(p.add_argument_group("model and training settings"), GiraffeConfig)


def _grid(images, rows: int):
    """(R*C, 3, S, S) -> (R*S, C*S, 3) with a 1-pixel white border around each image."""
    import torch

    n, _, s, _ = images.shape
    cols = n // rows
    x = torch.nn.functional.pad(images.detach().cpu(), (1, 1, 1, 1), value=1.0)
    x = x.reshape(rows, cols, 3, s + 2, s + 2).permute(0, 3, 1, 4, 2)
    return x.reshape(rows * (s + 2), cols * (s + 2), 3)


def _interpolations(gen, steps: int = 8):
    """Rows: shape code, appearance code, background codes, x translation, y rotation, each
    varied from one scene's value to another's (a linear path) with the rest fixed."""
    import torch

    from inverse3d.models.giraffe import ObjectPoses, SceneCodes

    g = torch.Generator().manual_seed(1234)
    (c0, p0), (c1, _) = gen.sample_latents(1, g), gen.sample_latents(1, g)
    t = torch.linspace(0, 1, steps, device=c0.shape.device)
    lerp = lambda a, b: a + (b - a) * t.reshape(-1, *([1] * (a.dim() - 1)))  # noqa: E731
    rep = lambda a: a.expand(steps, *a.shape[1:])  # noqa: E731
    C = lambda s, a, bs, ba: SceneCodes(s, a, bs, ba)  # noqa: E731
    base_c = C(rep(c0.shape), rep(c0.appearance), rep(c0.bg_shape), rep(c0.bg_appearance))
    base_p = ObjectPoses(rep(p0.scale), rep(p0.translation), rep(p0.rotation))
    lo, hi = gen.pose_ranges.tx
    tx = p0.translation.repeat(steps, 1, 1)
    tx[:, 0, 0] = lo + (hi - lo) * t
    rows = [
        (C(lerp(c0.shape, c1.shape), *list(vars(base_c).values())[1:]), base_p),
        (C(base_c.shape, lerp(c0.appearance, c1.appearance), base_c.bg_shape,
           base_c.bg_appearance), base_p),
        (C(base_c.shape, base_c.appearance, lerp(c0.bg_shape, c1.bg_shape),
           lerp(c0.bg_appearance, c1.bg_appearance)), base_p),
        (base_c, ObjectPoses(base_p.scale, tx, base_p.rotation)),
        (base_c, ObjectPoses(base_p.scale, base_p.translation,
                             lerp(p0.rotation, p0.rotation + torch.pi))),
    ]  # fmt: skip
    with torch.no_grad():
        return torch.cat([gen(c, p) for c, p in rows])


def run(args: argparse.Namespace) -> int:
    args.device = verb_device(args)
    import torch
    from PIL import Image

    from inverse3d.common.errors import InputError
    from inverse3d.datasets.giraffe_scenes import GIRAFFE_KINDS, make_giraffe_images
    from inverse3d.engine import Loop
    from inverse3d.eval.giraffe_metrics import controllability
    from inverse3d.methods.giraffe import build_models, pose_ranges, train_giraffe
    from inverse3d.pipeline.model_files import save_model_file
    from inverse3d.pipeline.outputs import versions, write_report_json
    from inverse3d.viz.plots import plot_loss, to_uint8

    cfg = config_from_flags(args, GiraffeConfig)
    kinds = cfg.kind_tuple()
    if any(k not in GIRAFFE_KINDS for k in kinds):
        raise InputError(f"--kinds must be a comma-separated subset of {GIRAFFE_KINDS}; got "
                         f"{cfg.kinds!r}")  # fmt: skip
    if cfg.image_size < cfg.feature_size or cfg.image_size // cfg.feature_size > 8:
        raise InputError(f"--image-size must be 1, 2, 4 or 8 times --feature-size; got "
                         f"{cfg.image_size} and {cfg.feature_size}")  # fmt: skip
    if cfg.scale_min > cfg.scale_max:
        raise InputError(f"--scale-min must be <= --scale-max; got {cfg.scale_min} and "
                         f"{cfg.scale_max}")  # fmt: skip
    if args.eval_samples < 3:
        raise InputError(f"--eval-samples must be >= 3; got {args.eval_samples}")
    t0 = time.perf_counter()
    out = verb_run_folder(args, "giraffe")
    dev = torch.device(args.device)
    data = make_giraffe_images(
        cfg.n_train, cfg.data_seed, cfg.image_size, kinds, pose_ranges(cfg),
        n_objects=cfg.n_objects,
    )  # fmt: skip
    t_data = time.perf_counter() - t0
    torch.manual_seed(args.seed)
    untrained = controllability(build_models(cfg)[0].to(dev), args.eval_samples, seed=1)
    loop = Loop(out_dir=out, progress=True, divergence_window=None)
    gen, disc, history = train_giraffe(cfg, data.images, loop, seed=args.seed, device=dev)
    t_train = time.perf_counter() - t0 - t_data
    metrics = controllability(gen, args.eval_samples, seed=1)
    save_model_file(out / "model.pt", MODEL_FORMAT, cfg, {"generator": gen, "discriminator": disc})
    with torch.no_grad():
        samples = gen(*gen.sample_latents(64, torch.Generator().manual_seed(7)))
    Image.fromarray(to_uint8(_grid(samples, 8))).save(out / "samples.png")
    Image.fromarray(to_uint8(_grid(_interpolations(gen), 5))).save(out / "interpolation.png")
    Image.fromarray(to_uint8(_grid(data.images[:64], 8))).save(out / "training_images.png")
    plot_loss(history, out / "loss.png")
    (out / "history.json").write_text(json.dumps(history) + "\n")
    write_report_json(
        out,
        {
            "command": "train-giraffe",
            "metrics": metrics,
            "metrics_untrained": untrained,
            "metric_definitions": METRIC_DEFINITIONS,
            "eval_samples": args.eval_samples,
            "interpolation_rows": ["shape code", "appearance code", "background codes",
                                   "x translation", "rotation about y (half a turn)"],
            "settings": dataclasses.asdict(cfg),
            "seed": args.seed,
            "device": str(dev),
            "final_loss": history[-1] if history else None,
            "time_s": {"data": t_data, "train": t_train, "total": time.perf_counter() - t0},
            "versions": versions(),
        },
    )  # fmt: skip
    print(
        f"translation centroid correlation x {metrics['translation_corr_x']:.3f} "
        f"y {metrics['translation_corr_y']:.3f}, appearance IoU {metrics['appearance_iou']:.3f}, "
        f"rotation width-change correlation {metrics['rotation_width_corr']:.3f}; "
        f"saved {out}/model.pt, samples.png, interpolation.png, report.json"
    )
    return 0
