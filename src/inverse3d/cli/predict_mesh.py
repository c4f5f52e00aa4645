"""`inverse3d predict-mesh`: single-image mesh prediction with a Mesh R-CNN mesh head.

    inverse3d predict-mesh train [flags]            train on procedural shapes into a run folder
    inverse3d predict-mesh predict IMAGE --model M  predict a mesh from one image

The model file (`model.pt`) is a plain dict {"format", "config", "state_dict"} read with
`torch.load(weights_only=True)`. Meshes are written in the camera's view frame (PyTorch3D axes:
camera at the origin looking along +z, +x left, +y up); see docs/single_image_mesh.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from inverse3d.cli._common import add_run_folder_flags, read_image_file, verb_run_folder
from inverse3d.cli._flags import add_dataclass_flags, config_from_flags
from inverse3d.methods.mesh_head import MeshHeadConfig

HELP = (
    "Single-image mesh prediction (Mesh R-CNN mesh head: voxel head, cubify, GraphConv "
    "refinement): 'train' a model on procedural rendered shapes into a run folder (model.pt, "
    "report.json with held-out Chamfer / normal consistency / F1), 'predict' a mesh from an image."
)
EXAMPLES = (
    "inverse3d predict-mesh train --steps 300 --name meshhead",
    "inverse3d predict-mesh predict photo.png --model runs/meshhead/model.pt --format ply",
)

MODEL_FORMAT = "inverse3d-mesh-head-1"
METRIC_DEFINITIONS = {
    "chamfer": "squared-L2 chamfer (both directions summed), GT rescaled to longest bbox side 10",
    "normal_consistency": "mean |cos| of nearest-neighbour normals, both directions averaged",
    "f1@0.1": "F1 of points within 0.1 (GT longest side 10), likewise f1@0.3 and f1@0.5",
    "voxel_iou": "IoU of the predicted and ground-truth frustum occupancy grids",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train a model on procedural shapes")
    t.add_argument("--device", default="cpu", help="torch device (default cpu)")
    t.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    t.add_argument("--examples", type=int, default=4, help="held-out predictions to save")
    add_run_folder_flags(t, "mesh-head")
    add_dataclass_flags(t.add_argument_group("model and training settings"), MeshHeadConfig)
    q = sub.add_parser("predict", help="predict a mesh from one image")
    q.add_argument("image", help="PNG/JPG of one object (framed as the training images)")
    q.add_argument("--model", required=True, help="model.pt written by 'predict-mesh train'")
    q.add_argument("--format", choices=("obj", "ply"), default="obj", help="mesh file format")
    q.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_run_folder_flags(q, "predict-<image file name>")


def save_model(path: Path, model, config: MeshHeadConfig) -> None:
    """Write model.pt (pipeline.model_files: format, config, state_dict)."""
    from inverse3d.pipeline.model_files import save_model_file

    save_model_file(path, MODEL_FORMAT, config, {"state_dict": model})


def load_model(path: str | Path, device: str = "cpu"):
    """(model in eval mode, MeshHeadConfig) from a model.pt; InputError naming the file."""
    from inverse3d.methods.mesh_head import build_model
    from inverse3d.pipeline.model_files import load_model_file

    model, cfg = load_model_file(path, MODEL_FORMAT, MeshHeadConfig, build_model, device=device)
    cfg.kind_tuple()
    return model, cfg


def _save_mesh(path: Path, verts, faces) -> None:
    from inverse3d.io.obj_io import save_obj
    from inverse3d.io.ply_io import save_ply

    (save_ply if path.suffix == ".ply" else save_obj)(path, verts.detach().cpu(), faces.cpu())


def _train(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    from inverse3d.datasets.procedural_shapes import make_shape_samples
    from inverse3d.engine import Loop
    from inverse3d.eval.mesh_rcnn_metrics import evaluate_mesh_head
    from inverse3d.methods.mesh_head import build_model, train_mesh_head
    from inverse3d.pipeline.outputs import versions, write_report_json
    from inverse3d.viz.plots import plot_loss, to_uint8

    cfg = config_from_flags(args, MeshHeadConfig)
    kinds = cfg.kind_tuple()
    from inverse3d.common.errors import InputError
    from inverse3d.datasets.procedural_shapes import SHAPE_KINDS

    if any(k not in SHAPE_KINDS for k in kinds):
        raise InputError(
            f"--kinds must be a comma-separated subset of {SHAPE_KINDS}; got {cfg.kinds!r}"
        )
    if cfg.image_size % 8:
        raise InputError(f"--image-size must be a multiple of 8; got {cfg.image_size}")
    t0 = time.perf_counter()
    out = verb_run_folder(args, "mesh-head")
    dev = torch.device(args.device)
    make = lambda n, s: make_shape_samples(  # noqa: E731
        n, s, cfg.image_size, cfg.grid, n_points=cfg.n_points, kinds=kinds
    )
    train_data, test_data = make(cfg.n_train, cfg.data_seed), make(cfg.n_test, cfg.data_seed + 1)
    t_data = time.perf_counter() - t0
    torch.manual_seed(args.seed)
    initial = evaluate_mesh_head(build_model(cfg).to(dev), test_data, cfg.eval_samples)
    loop = Loop(out_dir=out, progress=True, divergence_window=None)
    model, history = train_mesh_head(cfg, loop, train_data, seed=args.seed, device=dev)
    t_train = time.perf_counter() - t0 - t_data
    metrics = evaluate_mesh_head(model, test_data, cfg.eval_samples)
    save_model(out / "model.pt", model, cfg)
    plot_loss(history, out / "loss.png")
    ex = out / "examples"
    ex.mkdir(exist_ok=True)
    k = min(max(args.examples, 0), len(test_data))
    if k:
        with torch.no_grad():
            pred = model(test_data.images[:k].to(dev)).meshes[-1]
        for i in range(k):
            img = test_data.images[i].permute(1, 2, 0)
            Image.fromarray(to_uint8(img)).save(ex / f"{i:02d}_image.png")
            _save_mesh(ex / f"{i:02d}_pred.obj", pred.verts_list()[i], pred.faces_list()[i])
            gt = test_data.meshes
            _save_mesh(ex / f"{i:02d}_gt.obj", gt.verts_list()[i], gt.faces_list()[i])
    write_report_json(
        out,
        {
            "command": "predict-mesh train",
            "metrics": metrics,
            "metrics_untrained": initial,
            "metric_definitions": METRIC_DEFINITIONS,
            "held_out": {"n": len(test_data), "seed": cfg.data_seed + 1, "kinds": list(kinds)},
            "settings": dataclasses.asdict(cfg),
            "seed": args.seed,
            "device": str(dev),
            "final_loss": history[-1] if history else None,
            "time_s": {"data": t_data, "train": t_train, "total": time.perf_counter() - t0},
            "versions": versions(),
        },
    )
    (out / "history.json").write_text(json.dumps(history) + "\n")
    print(
        f"held-out chamfer {metrics['chamfer']:.3f} (untrained {initial['chamfer']:.3f}), "
        f"F1@0.3 {metrics['f1@0.3']:.3f}, voxel IoU {metrics['voxel_iou']:.3f}; "
        f"saved {out}/model.pt, report.json"
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    import torch

    from inverse3d.ops.image_resize import resize_images
    from inverse3d.pipeline.outputs import versions, write_report_json

    t0 = time.perf_counter()
    if not Path(args.image).is_file():
        raise FileNotFoundError(f"{args.image}: no such image file")
    model, cfg = load_model(args.model, args.device)
    img = read_image_file(args.image)
    if img.dim() == 2:
        img = img[..., None].expand(*img.shape, 3)
    if img.shape[-1] == 4:  # composite on white, as the training images
        img = img[..., :3] * img[..., 3:] + (1.0 - img[..., 3:])
    img = resize_images(img[None].float(), (cfg.image_size, cfg.image_size))[0]
    out = verb_run_folder(args, f"predict-{Path(args.image).stem}")
    with torch.no_grad():
        res = model(img.permute(2, 0, 1)[None].to(args.device))
    mesh = res.meshes[-1]
    path = out / f"mesh.{args.format}"
    _save_mesh(path, mesh.verts_list()[0], mesh.faces_list()[0])
    occupied = int((torch.sigmoid(res.voxel_logits) >= model.cubify_thresh).sum())
    info: dict[str, Any] = {
        "vertices": int(mesh.verts_list()[0].shape[0]),
        "faces": int(mesh.faces_list()[0].shape[0]),
        "occupied_voxels": occupied,
    }
    write_report_json(
        out,
        {
            "command": "predict-mesh predict",
            "image": args.image,
            "model": args.model,
            "mesh": path.name,
            "frame": "view (PyTorch3D camera axes: +x left, +y up, +z forward)",
            "metrics": info,
            "settings": dataclasses.asdict(cfg),
            "time_s": time.perf_counter() - t0,
            "versions": versions(),
        },
    )
    print(f"{info['vertices']} vertices, {info['faces']} faces; saved {path}, report.json")
    return 0


def run(args: argparse.Namespace) -> int:
    return _train(args) if args.action == "train" else _predict(args)
