"""What every method shares: config files, mesh files, evaluation and the run's outputs.

A run writes, in its output folder::

    config.yaml   the settings the run used (method fields plus data, device, seed)
    mesh.obj      the reconstructed mesh with per-vertex colours ("v x y z r g b" lines)
    mesh.ply      the same mesh (binary PLY with red/green/blue vertex properties)
    renders/      held-out views: NNN_target.png, NNN_prediction.png, NNN_error.png
    turntable.gif the mesh rendered from 36 views around it
    plots/loss.png, plots/views.png
    report.json   metrics, steps, time, peak memory, device and versions (schema below)
    report.html   one self-contained page (images embedded as data URIs)

report.json: {"method", "data", "metrics": {"chamfer_l1", "accuracy", "completeness",
"normal_consistency", "f_score", "f_score_tau", "mask_iou", "psnr", "ssim"}, "steps", "time_s",
"peak_memory_mb", "device", "versions"}; geometric metrics are null without a ground-truth mesh,
image metrics are null without held-out views.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "METRIC_KEYS",
    "config_to_dict",
    "evaluate_prediction",
    "finish_run",
    "fit_loop",
    "image_metrics",
    "read_config_yaml",
    "resize_images",
    "save_mesh_files",
    "scene_background",
    "versions",
    "write_config_yaml",
    "write_outputs",
    "write_report_html",
]

METRIC_KEYS = (
    "chamfer_l1",
    "accuracy",
    "completeness",
    "normal_consistency",
    "f_score",
    "f_score_tau",
    "mask_iou",
    "psnr",
    "ssim",
)
GEOMETRY_KEYS = METRIC_KEYS[:6]


# ----------------------------------------------------------------------------- config files
def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass instance as a flat dict (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _yaml_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(x) for x in v) + "]"
    return json.dumps(str(v))  # a double-quoted YAML string


def write_config_yaml(path: str | os.PathLike, values: Mapping[str, Any]) -> None:
    """Write a flat mapping of scalars and lists as YAML (``key: value`` lines)."""
    lines = [f"{k}: {_yaml_scalar(v)}" for k, v in values.items()]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _parse_yaml_scalar(text: str, where: str) -> Any:
    t = text.strip()
    if t in ("", "null", "~", "Null", "NULL"):
        return None
    if t in ("true", "True", "TRUE"):
        return True
    if t in ("false", "False", "FALSE"):
        return False
    if t in (".nan", ".NaN"):
        return float("nan")
    if t in (".inf", "+.inf"):
        return float("inf")
    if t == "-.inf":
        return float("-inf")
    if t.startswith("[") and t.endswith("]"):
        inner = t[1:-1].strip()
        return [] if not inner else [_parse_yaml_scalar(x, where) for x in inner.split(",")]
    if t[0] in "\"'":
        if len(t) < 2 or t[-1] != t[0]:
            raise ValueError(f"{where}: unterminated string {t!r}")
        return json.loads(t) if t[0] == '"' else t[1:-1]
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def read_config_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read the flat ``key: value`` YAML written by `write_config_yaml` (comments allowed).

    Raises FileNotFoundError for a missing file and ValueError naming the file and line for
    anything else than flat scalars and inline lists.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: config file does not exist")
    out: dict[str, Any] = {}
    for no, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if line[0].isspace() or ":" not in line:
            raise ValueError(f"{p}:{no}: expected a flat 'key: value' line; got {raw!r}")
        key, _, value = line.partition(":")
        out[key.strip()] = _parse_yaml_scalar(value, f"{p}:{no}")
    return out


def versions() -> dict[str, str]:
    """Versions of Python, torch, numpy and inverse3d, and the platform."""
    import inverse3d

    return {
        "inverse3d": getattr(inverse3d, "__version__", "unknown"),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


# ----------------------------------------------------------------------------- images
def scene_background(data: Any) -> tuple[float, float, float]:
    """The background colour of the data: `extra["background"]`, else the median colour of the
    pixels outside the masks, else white."""
    bg = data.extra.get("background") if isinstance(data.extra, dict) else None
    if bg is not None:
        return tuple(float(x) for x in bg)  # type: ignore[return-value]
    if data.masks is not None:
        outside = data.masks < 0.01
        if outside.any():
            return tuple(float(x) for x in data.images[outside].median(0).values)  # type: ignore
    return (1.0, 1.0, 1.0)


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """images: (N, H, W, C) or (N, H, W) float -> the same at (h, w), area-averaged."""
    squeeze = images.dim() == 3
    x = images[..., None] if squeeze else images
    if tuple(x.shape[1:3]) == tuple(size):
        return images
    y = torch.nn.functional.interpolate(x.permute(0, 3, 1, 2), size=size, mode="area")
    y = y.permute(0, 2, 3, 1)
    return y[..., 0] if squeeze else y


# ----------------------------------------------------------------------------- mesh files
def save_mesh_files(
    out_dir: str | os.PathLike,
    verts: torch.Tensor,
    faces: torch.Tensor,
    colors: torch.Tensor | None = None,
) -> None:
    """Write out_dir/mesh.obj (vertex colours as "v x y z r g b") and out_dir/mesh.ply.

    verts: (V, 3) float; faces: (F, 3) int; colors: (V, 3) float in [0, 1] or None.
    The OBJ is written here (save_obj has no vertex colours); the PLY by io.save_ply.
    """
    from inverse3d.io.ply_io import save_ply

    out = Path(out_dir)
    v = verts.detach().cpu().double().numpy()
    f = faces.detach().cpu().long().numpy() + 1
    with open(out / "mesh.obj", "w", encoding="utf-8") as fh:
        fh.write("# inverse3d reconstruction\n")
        if colors is not None:
            c = colors.detach().cpu().double().clamp(0, 1).numpy()
            np.savetxt(fh, np.concatenate([v, c], 1), fmt="v %.6f %.6f %.6f %.4f %.4f %.4f")
        else:
            np.savetxt(fh, v, fmt="v %.6f %.6f %.6f")
        if len(f):
            np.savetxt(fh, f, fmt="f %d %d %d")
    save_ply(
        out / "mesh.ply",
        verts.detach().cpu().float(),
        faces.detach().cpu().long(),
        colors=None if colors is None else colors.detach().cpu().float().clamp(0, 1),
    )


# ----------------------------------------------------------------------------- evaluation
def image_metrics(
    pred_rgb: torch.Tensor,
    target_rgb: torch.Tensor,
    pred_alpha: torch.Tensor | None,
    target_mask: torch.Tensor | None,
) -> dict[str, float | None]:
    """Mean PSNR, SSIM (full images) and mask IoU (threshold 0.5) over held-out views.

    pred_rgb, target_rgb: (N, H, W, 3) float; pred_alpha, target_mask: (N, H, W) float or None.
    """
    from inverse3d.eval.metrics import mask_iou, psnr, ssim

    if pred_rgb.shape[0] == 0:
        return {"psnr": None, "ssim": None, "mask_iou": None}
    p = pred_rgb.detach().float().cpu().clamp(0, 1)
    t = target_rgb.detach().float().cpu()
    ps = [float(psnr(p[i], t[i])) for i in range(p.shape[0])]
    ss = [float(ssim(p[i], t[i])) for i in range(p.shape[0])]
    out: dict[str, float | None] = {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss))}
    if pred_alpha is not None and target_mask is not None:
        a, m = pred_alpha.detach().float().cpu(), target_mask.detach().float().cpu()
        out["mask_iou"] = float(np.mean([float(mask_iou(a[i], m[i])) for i in range(a.shape[0])]))
    else:
        out["mask_iou"] = None
    return out


def evaluate_prediction(
    data: Any,
    mesh: Any,
    pred_rgba: torch.Tensor | None,
    n_samples: int = 100_000,
) -> dict[str, float | None]:
    """All report metrics: geometry of `mesh` against data.gt_mesh (null without one) and
    image metrics of `pred_rgba` (N_test, H, W, 4) against the held-out views."""
    metrics: dict[str, float | None] = dict.fromkeys(METRIC_KEYS)
    metrics["f_score_tau"] = 0.01
    if data.gt_mesh is not None and mesh is not None and mesh.verts_packed().shape[0] > 0:
        from inverse3d.eval.metrics import evaluate_meshes

        geo = evaluate_meshes(mesh.cpu(), data.gt_mesh.cpu(), n_samples=n_samples, tau=0.01)
        for k in GEOMETRY_KEYS:
            if k in geo and geo[k] is not None:
                metrics[k] = float(geo[k])
    if pred_rgba is not None and data.test_idx:
        idx = torch.as_tensor(data.test_idx)
        masks = None if data.masks is None else data.masks[idx]
        metrics.update(
            image_metrics(pred_rgba[..., :3], data.images[idx], pred_rgba[..., 3], masks)
        )
    return metrics


# ----------------------------------------------------------------------------- outputs
def _save_png(img: torch.Tensor, path: Path) -> None:
    from PIL import Image

    from inverse3d.viz.plots import to_uint8

    Image.fromarray(to_uint8(img)).save(path)


def _data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".gif": "image/gif"}.get(path.suffix, "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_report_html(out_dir: str | os.PathLike, report: Mapping[str, Any]) -> Path:
    """Write out_dir/report.html: metrics table, plots, turntable and renders, all embedded."""
    out = Path(out_dir)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{'—' if v is None else f'{v:.5g}'}</td></tr>"
        for k, v in report["metrics"].items()
    )
    info = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(report[k]))}</td></tr>"
        for k in ("method", "data", "steps", "time_s", "peak_memory_mb", "device")
    )
    figs = []
    for rel, title in (
        ("plots/loss.png", "Loss"),
        ("plots/views.png", "Held-out views (target / prediction / error)"),
        ("turntable.gif", "Turntable"),
    ):
        p = out / rel
        if p.is_file():
            figs.append(f"<h2>{title}</h2><img src='{_data_uri(p)}' alt='{rel}'>")
    vers = html.escape(json.dumps(report.get("versions", {})))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>inverse3d report: {html.escape(str(report['method']))}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse}td{border:1px solid #ccc;padding:2px 8px}"
        "img{max-width:100%}</style></head><body>"
        f"<h1>inverse3d reconstruct: {html.escape(str(report['method']))}</h1>"
        f"<table>{info}</table><h2>Metrics</h2><table>{rows}</table>"
        + "".join(figs)
        + f"<p><small>versions: {vers}</small></p></body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_outputs(
    out_dir: str | os.PathLike,
    *,
    method: str,
    config: Any,
    data: Any,
    mesh: Any,
    pred_rgba: torch.Tensor | None,
    history: Sequence[Mapping[str, float]],
    steps: int,
    time_s: float,
    device: str,
    extra_config: Mapping[str, Any] | None = None,
    n_eval_samples: int = 100_000,
    turntable_frames: int = 24,
) -> dict[str, Any]:
    """Write every output file of a run (see the module docstring) and return the report dict.

    mesh: Meshes (batch of 1) with TexturesVertex colours (or none); pred_rgba: (N_test, H, W, 4)
    float predictions of the held-out views (RGB on the data's background, alpha last).
    """
    from inverse3d.datasets.normalize import to_world
    from inverse3d.engine import peak_memory_mb
    from inverse3d.viz.plots import plot_loss, plot_views
    from inverse3d.viz.turntable import render_turntable

    out = Path(out_dir)
    (out / "renders").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    cfg = {"method": method, "data": data.source or data.name}
    cfg.update(config_to_dict(config))
    cfg.update(extra_config or {})
    write_config_yaml(out / "config.yaml", cfg)

    mesh = mesh.detach().cpu() if mesh is not None else None
    colors = None
    if mesh is not None:
        tex = mesh.textures
        if tex is not None and hasattr(tex, "verts_features_packed"):
            colors = tex.verts_features_packed()[:, :3]
        # Mesh files in the data's own frame (normalize_scene's similarity undone).
        save_mesh_files(out, to_world(mesh.verts_packed(), data), mesh.faces_packed(), colors)

    metrics = evaluate_prediction(data, mesh, pred_rgba, n_samples=n_eval_samples)

    idx = torch.as_tensor(data.test_idx, dtype=torch.long)
    targets = data.images[idx].cpu() if len(idx) else data.images[:0].cpu()
    preds = (
        pred_rgba[..., :3].detach().cpu() if pred_rgba is not None else torch.zeros_like(targets)
    )
    for k in range(targets.shape[0]):
        _save_png(targets[k], out / "renders" / f"{k:03d}_target.png")
        _save_png(preds[k], out / "renders" / f"{k:03d}_prediction.png")
        err = (preds[k] - targets[k]).abs().mean(-1)
        _save_png((err * 2.0).clamp(0, 1), out / "renders" / f"{k:03d}_error.png")
    plot_loss(history, out / "plots" / "loss.png")
    plot_views(targets, preds, out / "plots" / "views.png")
    if mesh is not None and mesh.verts_packed().shape[0] > 0:
        render_turntable(
            mesh,
            out / "turntable.gif",
            n_frames=turntable_frames,
            image_size=min(160, max(data.image_size)),  # no finer than the data
            background=scene_background(data),
        )
    else:
        from inverse3d.viz.turntable import save_gif

        save_gif(torch.ones(1, 8, 8, 3), out / "turntable.gif")

    report = {
        "method": method,
        "data": str(data.source or data.name),
        "metrics": {k: metrics.get(k) for k in METRIC_KEYS},
        "steps": int(steps),
        "time_s": float(time_s),
        "peak_memory_mb": float(peak_memory_mb(device)),
        "device": str(device),
        "versions": versions(),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    write_report_html(out, report)
    return report


# ----------------------------------------------------------------------------- method runs
def fit_loop(
    step_fn, config: Any, out_dir, state: Mapping[str, Any], resume: bool, progress: bool, desc: str
):
    """`engine.run_loop` with the method config's `steps` and `checkpoint_every`."""
    from inverse3d._validation import check_nonneg_int, check_positive_int
    from inverse3d.engine import run_loop

    return run_loop(
        step_fn,
        check_nonneg_int(config.steps, "steps"),
        out_dir=out_dir,
        state=dict(state),
        checkpoint_every=check_positive_int(config.checkpoint_every, "checkpoint_every"),
        resume=resume,
        progress=progress,
        desc=desc,
    )


def finish_run(
    out_dir,
    method: str,
    config: Any,
    data: Any,
    mesh: Any,
    pred_rgba: torch.Tensor | None,
    result: Any,
    start_time: float,
    device: Any,
) -> dict[str, Any]:
    """`write_outputs` for a method run that `fit_loop` returned `result` for; returns the report.

    start_time: `time.perf_counter()` at the start of the run.
    """
    import time

    return write_outputs(
        Path(out_dir),
        method=method,
        config=config,
        data=data,
        mesh=mesh,
        pred_rgba=pred_rgba,
        history=result.history,
        steps=result.steps,
        time_s=time.perf_counter() - start_time,
        device=str(device),
        n_eval_samples=config.eval_samples,
    )
