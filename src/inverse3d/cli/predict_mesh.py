"""`inverse3d predict-mesh IMAGE --checkpoint C`: a mesh from one image (Mesh R-CNN mesh head).

The checkpoint is the `model.pt` written by `inverse3d train-mesh-head`: a plain dict
{"format", "config", "state_dict"} read with `torch.load(weights_only=True)`. The mesh is written
in the camera's view frame (PyTorch3D axes: camera at the origin looking along +z, +x left,
+y up), with `overlay.png`, the mesh rendered over the image; see docs/single_image_mesh.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from inverse3d.cli._common import (
    add_device_flag,
    add_run_folder_flags,
    read_image_file,
    verb_device,
    verb_run_folder,
)

SUMMARY = "Predict a mesh from one image with a model from train-mesh-head."
HELP = (
    "Predict a triangle mesh from one image with a Mesh R-CNN mesh head trained by "
    "'inverse3d train-mesh-head' (voxel head, cubify, GraphConv refinement); writes the mesh "
    "(view frame), overlay.png (the mesh rendered over the image) and report.json."
)
EXAMPLES = (
    "inverse3d predict-mesh photo.png --checkpoint runs/mesh-head/model.pt",
    "inverse3d predict-mesh photo.png --checkpoint runs/mesh-head/model.pt --format ply",
)

MODEL_FORMAT = "inverse3d-mesh-head-1"
METRIC_DEFINITIONS = {
    "chamfer": "squared-L2 chamfer (both directions summed), GT rescaled to longest bbox side 10",
    "normal_consistency": "mean |cos| of nearest-neighbour normals, both directions averaged",
    "f1@0.1": "F1 of points within 0.1 (GT longest side 10), likewise f1@0.3 and f1@0.5",
    "voxel_iou": "IoU of the predicted and ground-truth frustum occupancy grids",
}
OVERLAY_SIZE = 256  # pixels per side of overlay.png (at least the model's image size)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="PNG/JPG of one object (framed as the training images)")
    p.add_argument(
        "--checkpoint", required=True, help="model.pt written by 'inverse3d train-mesh-head'"
    )
    p.add_argument("--format", choices=("obj", "ply"), default="obj", help="mesh file format")
    add_device_flag(p)
    add_run_folder_flags(p, "predict-<image file name>")


def save_model(path: Path, model, config) -> None:
    """Write model.pt (pipeline.model_files: format, config, state_dict)."""
    from inverse3d.pipeline.model_files import save_model_file

    save_model_file(path, MODEL_FORMAT, config, {"state_dict": model})


def load_model(path: str | Path, device: str = "cpu"):
    """(model in eval mode, MeshHeadConfig) from a model.pt; InputError naming the file."""
    from inverse3d.methods.mesh_head import MeshHeadConfig, build_model
    from inverse3d.pipeline.model_files import load_model_file

    model, cfg = load_model_file(path, MODEL_FORMAT, MeshHeadConfig, build_model, device=device)
    cfg.kind_tuple()
    return model, cfg


def write_mesh(path: Path, verts, faces) -> None:
    """Save verts (V, 3) / faces (F, 3) as OBJ, or PLY when `path` ends in .ply."""
    from inverse3d.io.obj_io import save_obj
    from inverse3d.io.ply_io import save_ply

    (save_ply if path.suffix == ".ply" else save_obj)(path, verts.detach().cpu(), faces.cpu())


def render_overlay(mesh, image, focal: float):
    """(S, S, 3) float: a view-frame mesh (Meshes of 1) shaded over the square image (S, S, 3)
    in [0, 1] (alpha 0.6), seen by the model's camera (R = I, T = 0, NDC focal `focal`)."""
    from inverse3d.renderer.cameras import PerspectiveCameras
    from inverse3d.renderer.lighting import PointLights
    from inverse3d.renderer.mesh.render_views import render_mesh_views

    cams = PerspectiveCameras(focal_length=focal, device=mesh.device)
    lights = PointLights(location=[[0.0, 0.0, 0.0]], device=mesh.device)
    rgba = render_mesh_views(mesh, cams, tuple(image.shape[:2]), lights=lights)[0].cpu()
    a = 0.6 * rgba[..., 3:]
    return image * (1 - a) + rgba[..., :3] * a


def run(args: argparse.Namespace) -> int:
    args.device = verb_device(args)
    import torch
    from PIL import Image

    from inverse3d.common.errors import InputError
    from inverse3d.ops.image_resize import resize_images
    from inverse3d.pipeline.outputs import versions, write_report_json
    from inverse3d.viz.plots import to_uint8

    t0 = time.perf_counter()
    if not args.checkpoint:
        raise InputError("--checkpoint is required: the model.pt of 'inverse3d train-mesh-head'")
    if not Path(args.image).is_file():
        raise FileNotFoundError(f"{args.image}: no such image file")
    model, cfg = load_model(args.checkpoint, args.device)
    img = read_image_file(args.image)
    if img.dim() == 2:
        img = img[..., None].expand(*img.shape, 3)
    if img.shape[-1] == 4:  # composite on white, as the training images
        img = img[..., :3] * img[..., 3:] + (1.0 - img[..., 3:])
    img = img[..., :3].float()
    square = resize_images(img[None], (cfg.image_size, cfg.image_size))[0]
    out = verb_run_folder(args, f"predict-{Path(args.image).stem}")
    with torch.no_grad():
        res = model(square.permute(2, 0, 1)[None].to(args.device))
    mesh = res.meshes[-1]
    path = out / f"mesh.{args.format}"
    write_mesh(path, mesh.verts_list()[0], mesh.faces_list()[0])
    size = max(OVERLAY_SIZE, cfg.image_size)
    big = resize_images(img[None], (size, size))[0].clamp(0, 1)
    overlay = render_overlay(mesh, big, model.frustum.focal)
    Image.fromarray(to_uint8(overlay)).save(out / "overlay.png")
    occupied = int((torch.sigmoid(res.voxel_logits) >= model.cubify_thresh).sum())
    info: dict[str, Any] = {
        "vertices": int(mesh.verts_list()[0].shape[0]),
        "faces": int(mesh.faces_list()[0].shape[0]),
        "occupied_voxels": occupied,
    }
    write_report_json(
        out,
        {
            "command": "predict-mesh",
            "image": args.image,
            "checkpoint": args.checkpoint,
            "mesh": path.name,
            "overlay": "overlay.png",
            "frame": "view (PyTorch3D camera axes: +x left, +y up, +z forward)",
            "metrics": info,
            "settings": dataclasses.asdict(cfg),
            "time_s": time.perf_counter() - t0,
            "versions": versions(),
        },
    )
    print(f"{info['vertices']} vertices, {info['faces']} faces; saved {path}, overlay.png")
    return 0
