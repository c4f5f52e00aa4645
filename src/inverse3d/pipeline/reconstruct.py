"""One `reconstruct` run, from settings to report.

1. settings: the run's (`RunSettings`) and the method's (its config dataclass), from a `--config`
   file and flags, or, with `resume`, from the run folder's saved `config.yaml` (a flag that
   contradicts it is an error naming the flag and both values);
2. data: the built-in scene or `load_scene(data)`, a held-out split when the data has none,
   normalisation into the unit cube (undone when the mesh files are written);
3. the run folder: created (never replacing anything without `overwrite`), `config.yaml` written
   before any step;
4. the method's `fit(config, scene, loop)` through `engine.Loop` (progress, checkpoints, resume);
5. evaluation (eval/), renders and plots (viz/), mesh files in the data's frame (io/),
   `report.json` and a self-contained `report.html`.

Under torchrun (`distributed.world_size() > 1`) the ranks train the one model together
(`engine.Loop`'s data-parallel mode): a method's `rays_per_step` is the global batch, each rank
takes `distributed.local_batch(rays_per_step)` rays per step; rank 0 alone makes the run folder,
writes config.yaml (the global settings, so a resume may use any number of ranks), the
checkpoints, the outputs and the report; the other ranks return after the fit.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from inverse3d import distributed
from inverse3d.common.errors import InputError
from inverse3d.engine import Loop, peak_memory_mb, seed_everything
from inverse3d.methods import DEFAULT_METHOD, REGISTRY
from inverse3d.methods.base import Method, Reconstruction, setting
from inverse3d.pipeline.config import (
    ConfigError,
    build_config,
    config_to_dict,
    read_yaml_file,
    write_yaml_file,
)
from inverse3d.pipeline.outputs import save_mesh_files, versions, write_report_json
from inverse3d.pipeline.run_folder import is_run_folder, prepare_run_folder, validate_run_name

__all__ = [
    "RunContext",
    "RunSettings",
    "default_run_name",
    "load_run_scene",
    "rank_config",
    "reconstruct",
    "resolve_settings",
]

BUILTIN = "builtin"
SCENE_METHOD = "nerf"
"""The default method for data without masks (a capture of a scene, not of a masked object)."""


@dataclass
class RunSettings:
    """Settings of a run that are not the method's (saved in config.yaml beside them)."""

    data: str | None = setting(
        None,
        "scene folder or camera file: our folder format, transforms*.json, COLMAP, "
        "cameras.npz (default: the built-in scene)",
    )
    downscale: int = setting(
        1,
        "divide the data's image width and height by this factor when loading (box filter; "
        "e.g. 8 for full-size phone photos)",
        low=1,
    )
    method: str = setting(
        DEFAULT_METHOD,
        f"reconstruction method (default: {DEFAULT_METHOD} when the data has masks, as the "
        f"built-in scene; {SCENE_METHOD} in scene mode when it has none, e.g. photos of an "
        "object in a room)",
    )
    seed: int = setting(0, "random seed (also picks the built-in scene's palette)", low=0)
    device: str | None = setting(None, "cpu, cuda, cuda:1 ... (default: cuda when available)")
    normalize: bool = setting(
        True,
        "find the object from the cameras and masks and map it into the unit cube (skipped for "
        "data that says it is there already)",
    )
    holdout_every: int = setting(
        8, "when the data has no held-out views, hold out every N-th image (0: none)", low=0
    )
    gt_mesh: str | None = setting(None, "ground-truth mesh for the geometric metrics")
    eval_samples: int = setting(
        100_000, "surface samples per mesh for the geometric metrics", low=100
    )
    checkpoint_every: int = setting(100, "steps between checkpoints", low=1)


RUN_KEYS = tuple(f.name for f in dataclasses.fields(RunSettings))


@dataclass
class RunContext:
    """What a caller may want to know about a run while or after it runs (e.g. on an error)."""

    folder: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)


def default_run_name(data: str | None, method: str) -> str:
    """`<scene>-<method>`: the data folder's name (a file's parent folder), "mug" when built in."""
    if data in (None, BUILTIN):
        scene = "mug"
    else:
        p = Path(data)
        scene = (p.parent if p.is_file() else p).resolve().name or "scene"
    return f"{scene}-{method}"


def _method(name: str, source: str) -> Method:
    if name not in REGISTRY:
        raise InputError(
            f"{source}: unknown method {name!r}; choose one of {', '.join(sorted(REGISTRY))}"
        )
    return REGISTRY[name]


def _split_file_config(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run settings, method settings) of a config file: method settings under `settings:`
    (older files had them at the top level beside the run's)."""
    run = {k: v for k, v in values.items() if k in RUN_KEYS}
    settings = values.get("settings")
    if settings is None:
        settings = {k: v for k, v in values.items() if k not in RUN_KEYS and k != "settings"}
    elif not isinstance(settings, Mapping):
        raise ConfigError(f"settings must be a mapping of method settings; got {settings!r}")
    if run.get("data") == BUILTIN:
        run["data"] = None
    return run, dict(settings)


def resolve_settings(
    flags_run: Mapping[str, Any],
    flags_method: Mapping[str, Any],
    *,
    config_file: str | None = None,
    resume_folder: Path | None = None,
) -> tuple[RunSettings, Any, Method]:
    """The run's settings, the method's config and the method, from flags given explicitly
    (`flags_*`: {field: value}; the flag of field `x_y` is `--x-y`), over a config file, or, with
    `resume_folder`, from its saved config.yaml (then a flag that differs is an InputError)."""

    def flag(k: str) -> str:
        return "--" + k.replace("_", "-")

    if resume_folder is not None:
        saved_path = resume_folder / "config.yaml"
        saved = read_yaml_file(saved_path)
        run_vals, set_vals = _split_file_config(saved)
        src = str(saved_path)
        run = build_config(RunSettings, run_vals, dict.fromkeys(run_vals, src))
        method = _method(run.method, f"{src}: method")
        cfg = build_config(method.config_cls, set_vals, dict.fromkeys(set_vals, src))
        given_run = build_config(
            RunSettings, {**run_vals, **flags_run}, {k: flag(k) for k in flags_run}
        )
        for k in flags_run:
            if getattr(given_run, k) != getattr(run, k):
                raise InputError(
                    f"{flag(k)} {getattr(given_run, k)!r} contradicts the run being resumed "
                    f"({saved_path}: {k}: {getattr(run, k)!r}); drop the flag or start a new run"
                )
        if flags_method:
            given = build_config(
                method.config_cls, {**set_vals, **flags_method}, {k: flag(k) for k in flags_method}
            )
            for k in flags_method:
                if getattr(given, k) != getattr(cfg, k):
                    raise InputError(
                        f"{flag(k)} {getattr(given, k)!r} contradicts the run being resumed "
                        f"({saved_path}: settings: {k}: {getattr(cfg, k)!r}); drop the flag or "
                        "start a new run"
                    )
        return run, cfg, method

    file_run: dict[str, Any] = {}
    file_set: dict[str, Any] = {}
    if config_file is not None:
        file_run, file_set = _split_file_config(read_yaml_file(config_file))
    sources = dict.fromkeys(file_run, str(config_file))
    sources.update({k: flag(k) for k in flags_run})
    run = build_config(RunSettings, {**file_run, **flags_run}, sources)
    if "method" not in sources and run.data is not None and not _data_has_masks(run):
        run = dataclasses.replace(run, method=SCENE_METHOD)
    method = _method(run.method, sources.get("method", "--method"))
    set_sources = dict.fromkeys(file_set, str(config_file))
    set_sources.update({k: flag(k) for k in flags_method})
    names = {f.name for f in dataclasses.fields(method.config_cls)}
    for k in {**file_set, **flags_method}:
        if k not in names:
            raise InputError(f"{set_sources[k]}: {k!r} is not a setting of method {run.method!r}")
    cfg = build_config(method.config_cls, {**file_set, **flags_method}, set_sources)
    return run, cfg, method


def _data_has_masks(run: RunSettings) -> bool:
    """Whether the run's data loads with masks (True when it cannot be read: the real load
    reports the problem later)."""
    from inverse3d.datasets.loader import load_scene

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_scene(Path(run.data), downscale=run.downscale).masks is not None
    except Exception:  # noqa: BLE001 - the run's own load raises the proper error
        return True


def resolve_device(device: str | None) -> str:
    """`device` checked (InputError if unknown or CUDA is absent); None -> cuda if available."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as e:
        raise InputError(f"--device {device!r}: not a device ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"--device {device}: only cpu and cuda devices are supported")
    return str(dev)


def load_run_scene(run: RunSettings, device: str):
    """The run's scene on `device`: loaded, split, with its ground truth, normalised."""
    from inverse3d.datasets.normalize import normalize_scene

    if run.data is None:
        from inverse3d.datasets.synthetic import make_synthetic_scene

        scene = make_synthetic_scene(seed=run.seed)
    else:
        from inverse3d.datasets.loader import load_scene

        path = Path(run.data)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder (--data)")
        try:
            scene = load_scene(path, downscale=run.downscale)
        except InputError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as e:
            msg = str(e) if str(path) in str(e) else f"{path}: {e}"
            raise InputError(msg) from e
    if run.gt_mesh is not None:
        scene.gt_mesh = _load_mesh(run.gt_mesh, "--gt-mesh")
    if not scene.test_idx and run.holdout_every > 0 and len(scene) > run.holdout_every:
        test = list(range(0, len(scene), run.holdout_every))
        scene.test_idx = test
        scene.train_idx = [i for i in range(len(scene)) if i not in set(test)]
        scene.extra["holdout"] = f"every {run.holdout_every}th image (from 0)"
    scene = scene.to(device)
    if run.normalize and not scene.extra.get("unit_frame"):
        try:
            scene = normalize_scene(scene)
        except ValueError as e:
            raise InputError(f"{scene.source}: {e}") from e
    return scene


def _load_mesh(path_str: str, flag: str):
    from inverse3d.io.pluggable import IO

    path = Path(path_str)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mesh file ({flag})")
    try:
        mesh = IO(strict=True).load_mesh(path)
    except InputError:
        raise
    except (ValueError, OSError) as e:
        raise InputError(str(e) if str(path) in str(e) else f"{path}: {e}") from e
    if mesh.faces_packed().shape[0] == 0:
        raise InputError(f"{path}: mesh has no faces ({flag})")
    if not bool(torch.isfinite(mesh.verts_packed()).all()):
        raise InputError(f"{path}: mesh has NaN or infinite vertices ({flag})")
    return mesh


METRIC_DEFINITIONS = {
    "chamfer_l1": "mean of accuracy and completeness (docs/metrics.md)",
    "accuracy": "mean distance from predicted surface samples to the ground truth",
    "completeness": "mean distance from ground-truth surface samples to the prediction",
    "normal_consistency": "mean |cos| between normals of nearest surface samples",
    "f_score": "F-score of surface samples at distance f_score_tau",
    "f_score_tau": "threshold of the F-score (ground truth scaled to a unit bounding box)",
    "mask_iou": "IoU of predicted alpha > 0.5 and the held-out masks",
    "psnr": "PSNR (dB) of held-out views, mean over views",
    "ssim": "SSIM of held-out views (Gaussian window 11, sigma 1.5), mean over views",
    "pose_rotation_deg": "pose refinement: mean angle (degrees) of the training cameras' learnt "
    "rotation corrections",
    "pose_translation": "pose refinement: mean length of the learnt translation corrections "
    "(working frame, the unit cube)",
    "psnr_appearance_fit": "appearance embedding, NeRF-W protocol: PSNR (dB) of the held-out "
    "views' right halves, each view's latent fitted on its left half (field frozen)",
    "psnr_appearance_mean": "appearance embedding: PSNR (dB) of the same right halves rendered "
    "with the training latents' mean (the plain psnr's latent)",
}


def reconstruct(
    run: RunSettings,
    config: Any,
    method: Method,
    *,
    out: str | Path = "runs",
    name: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    context: RunContext | None = None,
    log=print,
    data_parallel: bool = True,
) -> dict[str, Any]:
    """Run `method` with `config` on the run's data and write every output; return the report.

    data_parallel: in a job of several processes, whether the ranks train this run together
    (rank 0 writes) or each rank runs its own (a shard of a many-scene job: it writes its run).
    """
    from inverse3d.datasets.normalize import to_world
    from inverse3d.eval.report_metrics import METRIC_KEYS, run_metrics

    context = context if context is not None else RunContext()
    main = distributed.is_main() or not data_parallel
    if not main:
        log = _quiet
    t_start = time.perf_counter()
    device = resolve_device(run.device)
    run = dataclasses.replace(run, device=device)
    name = validate_run_name(name) if name is not None else default_run_name(run.data, method.name)
    seed_everything(run.seed)
    scene = load_run_scene(run, device)
    norm = scene.extra.get("normalization")
    if norm:
        log(
            "object frame: centre ({:.3g}, {:.3g}, {:.3g}), scale {:.3g} "
            "(mesh files are written in the data's frame)".format(*norm["centre"], norm["scale"])
        )
    folder = Path(out) / name
    if main:  # rank 0 makes the folder; the others wait for it
        folder = prepare_run_folder(out, name, overwrite=overwrite, resume=resume)
        if not resume:
            saved = config_to_dict(run)
            saved["data"] = run.data if run.data is not None else BUILTIN
            saved["settings"] = config_to_dict(config)
            write_yaml_file(folder / "config.yaml", saved)
    if data_parallel:
        distributed.barrier()
    context.folder = folder
    log(
        f"inverse3d reconstruct: method {method.name}, data {scene.source or scene.name}, "
        f"{len(scene.train_idx)} training / {len(scene.test_idx)} held-out views, device {device}"
    )
    seed_everything(run.seed)
    loop = Loop(
        out_dir=folder,
        resume=resume,
        progress=progress,
        checkpoint_every=run.checkpoint_every,
        data_parallel=data_parallel,
    )
    t_fit = time.perf_counter()
    fit_config = rank_config(config) if data_parallel else config
    rec: Reconstruction = method.fit(fit_config, scene, loop)
    fit_time = time.perf_counter() - t_fit
    if not main:  # rank 0 evaluates and writes the outputs
        context.report = {"method": method.name, "steps": int(rec.steps), "metrics": {}}
        context.report["time_s"] = float(time.perf_counter() - t_start)
        return context.report

    test = scene.test()
    pred = _render_views(rec, test, log) if (rec.render is not None and len(test)) else None
    mesh = rec.mesh.detach().cpu() if rec.mesh is not None else None
    metrics = run_metrics(scene, mesh, pred, n_samples=run.eval_samples)
    metrics.update(rec.artifacts.get("metrics", {}))
    if pred is not None and callable(rec.artifacts.get("fit_appearance")):
        metrics.update(appearance_protocol_metrics(rec, test, pred))
    if mesh is not None:
        save_mesh_files(folder, mesh, lambda v: to_world(v, scene))
    if "field" in rec.artifacts:
        torch.save(rec.artifacts["field"], folder / "field.pt")
    _write_artifact_images(folder, rec.artifacts.get("images", {}))
    _write_figures(folder, scene, mesh, pred, rec.history)
    report = {
        "method": method.name,
        "data": str(scene.source or scene.name),
        "metrics": {k: metrics.get(k) for k in (*METRIC_KEYS, *extra_metric_keys(metrics))},
        "metric_definitions": METRIC_DEFINITIONS,
        "steps": int(rec.steps),
        "time_s": float(time.perf_counter() - t_start),
        "fit_time_s": float(fit_time),
        "peak_memory_mb": float(peak_memory_mb(device)),
        "device": device,
        "train_views": len(scene.train_idx),
        "test_views": len(scene.test_idx),
        "holdout": scene.extra.get("holdout", "the data's own split"),
        "normalization": norm,
        "settings": config_to_dict(config),
        "versions": versions(),
    }
    write_report_json(folder, report)
    _write_html(folder, report)
    context.report = report
    return report


def _quiet(*args: Any, **kwargs: Any) -> None:
    """The log of ranks other than 0."""


def rank_config(config: Any) -> Any:
    """This rank's copy of a method config: `rays_per_step` (the global batch) divided by the
    number of ranks (`distributed.local_batch`); the config itself in a one-process run or for a
    method without that field."""
    n = getattr(config, "rays_per_step", None)
    if (
        distributed.world_size() == 1
        or not isinstance(n, int)
        or not dataclasses.is_dataclass(config)
    ):
        return config
    try:
        local = distributed.local_batch(n, "rays_per_step")
    except ValueError as e:
        raise InputError(f"--rays-per-step: {e}") from None
    return dataclasses.replace(config, rays_per_step=local)


def _write_artifact_images(folder: Path, images: Mapping[str, torch.Tensor]) -> None:
    """A method's artifacts["images"]: {relative .png path: (H, W, C) float in [0, 1], C = 1, 3
    or 4} written as 8-bit PNGs under the run folder (paths that leave it are refused)."""
    from PIL import Image

    from inverse3d.viz.plots import to_uint8

    root = folder.resolve()
    for rel, img in images.items():
        path = (folder / rel).resolve()
        if root not in path.parents or path.suffix.lower() != ".png":
            raise ValueError(f"artifact image {rel!r} must be a .png path inside the run folder")
        if not torch.is_tensor(img) or img.dim() != 3 or img.shape[-1] not in (1, 3, 4):
            raise ValueError(f"artifact image {rel!r} must be an (H, W, 1|3|4) tensor")
        arr = to_uint8(img.detach().cpu().float())
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)


def extra_metric_keys(metrics: Mapping[str, Any]) -> list[str]:
    """The keys of `metrics` beyond the standard METRIC_KEYS, in their order."""
    from inverse3d.eval.report_metrics import METRIC_KEYS

    return [k for k in metrics if k not in METRIC_KEYS]


def appearance_protocol_metrics(
    rec: Reconstruction, views: Any, pred: torch.Tensor, steps: int = 100
) -> dict[str, float]:
    """NeRF-W's held-out protocol for a fit with per-image appearance latents: each held-out
    view's latent is optimised (field frozen) on the left half of its image by
    `rec.artifacts["fit_appearance"]`, and the PSNR is taken on the right half, against the
    right half of `pred` (N, H, W, 4), the views rendered with the mean latent. A held-out
    photo's exposure is unknown to the fit, so the plain psnr mixes exposure and geometry.
    """
    from inverse3d.eval.metrics import psnr

    images = views.images
    w = images.shape[2]
    if w < 2:
        raise ValueError(f"views.images: need at least 2 columns for the half split, got {w}")
    keep = torch.zeros(images.shape[:3])
    keep[:, :, : w // 2] = 1.0
    with torch.enable_grad():
        latents = rec.artifacts["fit_appearance"](
            views.cameras, images, keep, distortion=views.distortion, steps=steps
        )
    with torch.no_grad():
        fitted = rec.render(views.cameras, distortion=views.distortion, appearance=latents)

    def right_half_psnr(p: torch.Tensor) -> float:
        p = p[:, :, w // 2 :, :3].detach().float().cpu().clamp(0, 1)
        t = images[:, :, w // 2 :].detach().float().cpu()
        return sum(float(psnr(p[i], t[i])) for i in range(len(p))) / len(p)

    return {
        "psnr_appearance_fit": right_half_psnr(fitted),
        "psnr_appearance_mean": right_half_psnr(pred),
    }


def _render_views(rec: Reconstruction, views, log) -> torch.Tensor:
    """rec.render of the views' cameras, with their lens distortion when they have one and the
    method's render takes it (`render(cameras, distortion=...)`; others render pinhole rays)."""
    if views.distortion is None:
        return rec.render(views.cameras)
    if "distortion" in inspect.signature(rec.render).parameters:
        return rec.render(views.cameras, distortion=views.distortion)
    log(
        "warning: this method renders pinhole cameras; the held-out views' lens distortion is ignored"
    )
    return rec.render(views.cameras)


def _write_figures(folder: Path, scene, mesh, pred, history) -> None:
    from PIL import Image

    from inverse3d.viz.plots import plot_loss, plot_views, to_uint8
    from inverse3d.viz.turntable import render_turntable, save_gif

    (folder / "renders").mkdir(exist_ok=True)
    (folder / "plots").mkdir(exist_ok=True)
    idx = torch.as_tensor(scene.test_idx, dtype=torch.long)
    targets = scene.images[idx].cpu() if len(idx) else scene.images[:0].cpu()
    preds = pred[..., :3].detach().cpu() if pred is not None else torch.zeros_like(targets)
    for k in range(targets.shape[0]):
        err = (preds[k] - targets[k]).abs().mean(-1)
        for img, tag in (
            (targets[k], "target"),
            (preds[k], "prediction"),
            ((err * 2).clamp(0, 1), "error"),
        ):
            Image.fromarray(to_uint8(img)).save(folder / "renders" / f"{k:03d}_{tag}.png")
    plot_loss(history, folder / "plots" / "loss.png")
    plot_views(targets, preds, folder / "plots" / "views.png")
    if mesh is not None and mesh.verts_packed().shape[0] > 0:
        render_turntable(
            mesh,
            folder / "turntable.gif",
            n_frames=24,
            image_size=min(160, max(scene.image_size)),
            background=scene.background(),
        )
    else:
        save_gif(torch.ones(1, 8, 8, 3), folder / "turntable.gif")


def _write_html(folder: Path, report: Mapping[str, Any]) -> None:
    from inverse3d.viz.report import write_report_html

    info = {
        k: report[k]
        for k in ("method", "data", "steps", "time_s", "peak_memory_mb", "device", "holdout")
    }
    write_report_html(
        folder / "report.html",
        f"inverse3d reconstruct: {report['method']}",
        [("Run", info), ("Metrics", report["metrics"]), ("Settings", report["settings"])],
        [
            ("Loss", folder / "plots" / "loss.png"),
            ("Held-out views (target / prediction / error)", folder / "plots" / "views.png"),
            ("Turntable", folder / "turntable.gif"),
        ],
        footer={"versions": report["versions"]},
    )


def resume_folder(out: str | Path, name: str | None, data: str | None, method: str | None) -> Path:
    """The folder of the run to resume: `out/name`, or the default name of the given data and
    method. InputError when it is not a run folder."""
    name = (
        validate_run_name(name)
        if name is not None
        else default_run_name(data, method or DEFAULT_METHOD)
    )
    folder = Path(out) / name
    if not is_run_folder(folder):
        raise InputError(f"{folder}: no run to resume (not an inverse3d run folder)")
    if not (folder / "config.yaml").is_file():
        raise InputError(f"{folder}: no config.yaml to resume from")
    return folder
