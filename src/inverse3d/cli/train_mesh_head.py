"""`inverse3d train-mesh-head`: train a Mesh R-CNN mesh head on procedural shapes.

    inverse3d train-mesh-head [flags]     train into a run folder (model.pt, report.json, ...)

The held-out report has the metrics of the refined meshes (the last refinement stage) and of the
voxel branch alone (the cubified voxels, no refinement) on the same held-out samples, and of the
untrained model; `inverse3d predict-mesh IMAGE --checkpoint runs/<name>/model.pt` uses the model.
See docs/single_image_mesh.md.
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
from inverse3d.cli.predict_mesh import METRIC_DEFINITIONS, save_model, write_mesh
from inverse3d.methods.mesh_head import MeshHeadConfig

SUMMARY = "Train a Mesh R-CNN mesh head on procedural shapes (for predict-mesh)."
HELP = (
    "Train a Mesh R-CNN mesh head (voxel head, cubify, vert_align + GraphConv refinement) on "
    "procedural shapes rendered by our renderer into a run folder: model.pt (for "
    "'inverse3d predict-mesh IMAGE --checkpoint C'), report.json with held-out Chamfer / normal "
    "consistency / F1 of the refined meshes and of the voxel branch alone (cubify, no "
    "refinement), history.json, loss.png and held-out example predictions."
)
EXAMPLES = (
    "inverse3d train-mesh-head --name meshhead",
    "inverse3d train-mesh-head --name tiny --image-size 32 --grid 12 --steps 150",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_device_flag(p)
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--examples", type=int, default=4, help="held-out predictions to save")
    add_run_folder_flags(p, "mesh-head")
    add_dataclass_flags(p.add_argument_group("model and training settings"), MeshHeadConfig)


def run(args: argparse.Namespace) -> int:
    args.device = verb_device(args)
    import torch
    from PIL import Image

    from inverse3d.common.errors import InputError
    from inverse3d.datasets.procedural_shapes import SHAPE_KINDS, make_shape_samples
    from inverse3d.engine import Loop
    from inverse3d.eval.mesh_rcnn_metrics import evaluate_mesh_head
    from inverse3d.methods.mesh_head import build_model, train_mesh_head
    from inverse3d.pipeline.outputs import versions, write_report_json
    from inverse3d.viz.plots import plot_loss, to_uint8

    cfg = config_from_flags(args, MeshHeadConfig)
    kinds = cfg.kind_tuple()
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
    voxel_only = evaluate_mesh_head(model, test_data, cfg.eval_samples, stage=0)
    save_model(out / "model.pt", model, cfg)
    plot_loss(history, out / "loss.png")
    ex = out / "examples"
    ex.mkdir(exist_ok=True)
    k = min(max(args.examples, 0), len(test_data))
    if k:
        with torch.no_grad():
            res = model(test_data.images[:k].to(dev))
        cubes, pred, gt = res.meshes[0], res.meshes[-1], test_data.meshes
        for i in range(k):
            img = test_data.images[i].permute(1, 2, 0)
            Image.fromarray(to_uint8(img)).save(ex / f"{i:02d}_image.png")
            write_mesh(ex / f"{i:02d}_pred.obj", pred.verts_list()[i], pred.faces_list()[i])
            write_mesh(ex / f"{i:02d}_cubified.obj", cubes.verts_list()[i], cubes.faces_list()[i])
            write_mesh(ex / f"{i:02d}_gt.obj", gt.verts_list()[i], gt.faces_list()[i])
    gain = {key: metrics[key] - voxel_only[key] for key in metrics if key in voxel_only}
    write_report_json(
        out,
        {
            "command": "train-mesh-head",
            "metrics": metrics,
            "metrics_voxel_only": voxel_only,
            "refinement_gain": gain,
            "metrics_untrained": initial,
            "metric_definitions": {
                **METRIC_DEFINITIONS,
                "metrics": "the refined meshes (last refinement stage)",
                "metrics_voxel_only": "the voxel branch alone: cubified voxels, no refinement",
                "refinement_gain": "metrics - metrics_voxel_only (lower chamfer is better)",
            },
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
        f"held-out F1@0.3 {metrics['f1@0.3']:.3f} refined, {voxel_only['f1@0.3']:.3f} voxels "
        f"only; chamfer {metrics['chamfer']:.3f} refined, {voxel_only['chamfer']:.3f} voxels "
        f"only (untrained {initial['chamfer']:.3f}); saved {out}/model.pt, report.json"
    )
    return 0
