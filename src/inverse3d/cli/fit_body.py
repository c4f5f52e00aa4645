"""`inverse3d fit-body`: SMPLify-style body pose and shape from one image's 2D keypoints.

The keypoints file (JSON, docs/body.md):

    {
      "keypoints": [[u, v, confidence], ...],     one per joint, pixels (origin top-left,
                                                  u right, v down); confidence 0 = missing
      "joint_names": ["pelvis", ...],             optional: order of "keypoints" (default:
                                                  the model's joints, SMPL's 24 names)
      "focal_length": 1000.0,                     optional, pixels (default max(H, W))
      "principal_point": [cx, cy],                optional, pixels (default the image centre)
      "truth": {"betas": [...], "pose": [[ax, ay, az], ...], "transl": [x, y, z]}
                                                  optional (synthetic data): MPJPE and vertex
                                                  error in the report
    }
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
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
from inverse3d.cli._flags import add_dataclass_flags, config_from_flags
from inverse3d.methods.smplify import SMPLifyConfig

HELP = (
    "Fit an SMPL-family body model (pose, shape, translation) to one image's 2D keypoints "
    "(SMPLify: torso camera init, robust reprojection, pose/angle/shape priors); writes the "
    "fitted mesh, an overlay on the image, params.json and report.json."
)
EXAMPLES = (
    "inverse3d fit-body photo.png photo_keypoints.json --model SMPL_NEUTRAL.pkl",
    "inverse3d fit-body img.png kp.json --model body.npz --gmm gmm_08.npz --penetration-weight 10",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="PNG/JPG the keypoints belong to (overlay background)")
    p.add_argument("keypoints", help="keypoints JSON (see docs/body.md)")
    p.add_argument("--model", required=True, help="body model file (.npz or .pkl, SMPL layout)")
    p.add_argument("--gmm", default=None, help="pose prior GMM .npz (means, covars, weights)")
    add_device_flag(p)
    add_run_folder_flags(p, "body-<image file name>")
    add_dataclass_flags(p.add_argument_group("fitting settings"), SMPLifyConfig)


def _number(x: Any, what: str, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ValueError(f"{name}: {what} must be a finite number; got {x!r}")
    return float(x)


def read_keypoints(path: str | Path, joint_names: tuple[str, ...]) -> dict[str, Any]:
    """Parse a keypoints JSON file (module docstring) for a model with `joint_names`.

    Returns:
        {keypoints (J, 2) float, confidence (J,) float (0 for joints the file does not give),
        focal (float or None), principal ((2,) or None), truth (dict or None)}.
    Raises InputError naming the file and the problem.
    """
    import torch

    from inverse3d.common.errors import InputError

    name = str(path)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{name}: not valid JSON ({e})") from None
    if not isinstance(raw, dict) or "keypoints" not in raw:
        raise InputError(f"{name}: expected an object with a 'keypoints' list")
    kps = raw["keypoints"]
    names = raw.get("joint_names", list(joint_names))
    if not isinstance(kps, list) or not isinstance(names, list) or len(kps) != len(names):
        raise InputError(
            f"{name}: 'keypoints' must be a list with one [u, v, confidence] per joint name "
            f"({len(names) if isinstance(names, list) else '?'} names)"
        )
    J = len(joint_names)
    out = torch.zeros(J, 2)
    conf = torch.zeros(J)
    try:
        for i, (n, kp) in enumerate(zip(names, kps)):
            if n not in joint_names:
                raise ValueError(f"joint name {n!r} is not one of the model's {list(joint_names)}")
            if not isinstance(kp, list) or len(kp) not in (2, 3):
                raise ValueError(f"keypoint {i} must be [u, v] or [u, v, confidence]; got {kp!r}")
            vals = [_number(x, f"keypoint {i}", name) for x in kp]
            if len(vals) == 3 and vals[2] < 0:
                raise ValueError(f"keypoint {i} has a negative confidence {vals[2]}")
            j = joint_names.index(n)
            out[j] = torch.tensor(vals[:2])
            conf[j] = vals[2] if len(vals) == 3 else 1.0
        focal = raw.get("focal_length")
        focal = None if focal is None else _number(focal, "focal_length", name)
        if focal is not None and focal <= 0:
            raise ValueError(f"focal_length must be > 0; got {focal}")
        pp = raw.get("principal_point")
        if pp is not None:
            if not isinstance(pp, list) or len(pp) != 2:
                raise ValueError(f"principal_point must be [cx, cy]; got {pp!r}")
            pp = torch.tensor([_number(x, "principal_point", name) for x in pp])
        truth = raw.get("truth")
        if truth is not None:
            truth = {k: torch.tensor(v, dtype=torch.float32) for k, v in truth.items()}
    except (ValueError, TypeError) as e:
        msg = str(e)
        raise InputError(msg if msg.startswith(name) else f"{name}: {msg}") from None
    if float(conf.sum()) == 0:
        raise InputError(f"{name}: no keypoint with confidence > 0")
    return {"keypoints": out, "confidence": conf, "focal": focal, "principal": pp, "truth": truth}


def render_overlay(model, vertices, K, image):
    """(H, W, 3) image with the mesh (camera frame, OpenCV axes) rendered over it (alpha 0.6)."""
    import torch

    from inverse3d.renderer.lighting import PointLights
    from inverse3d.renderer.mesh.render_views import render_mesh_views
    from inverse3d.renderer.mesh.textures import TexturesVertex
    from inverse3d.structures.meshes import Meshes
    from inverse3d.utils.camera_conversions import cameras_from_opencv_projection

    H, W = image.shape[:2]
    verts = vertices.detach().float().cpu()
    colour = torch.tensor([0.55, 0.7, 0.95]).expand(verts.shape[0], 3)
    mesh = Meshes([verts], [model.faces.cpu()], textures=TexturesVertex([colour]))
    cams = cameras_from_opencv_projection(
        torch.eye(3)[None], torch.zeros(1, 3), K[None].float(), torch.tensor([[H, W]])
    )
    lights = PointLights(location=[[0.0, 0.0, 0.0]])
    rgba = render_mesh_views(mesh, cams, (H, W), lights=lights)[0]
    rgb = image[..., :3] if image.dim() == 3 else image[..., None].expand(H, W, 3)
    a = 0.6 * rgba[..., 3:]
    return rgb * (1 - a) + rgba[..., :3] * a


def run(args: argparse.Namespace) -> int:
    args.device = verb_device(args)
    import torch
    from PIL import Image

    from inverse3d.common.errors import InputError
    from inverse3d.io.body_model_io import load_body_model_file
    from inverse3d.io.obj_io import save_obj
    from inverse3d.loss.body_fitting import GaussianMixturePrior
    from inverse3d.methods.smplify import body_errors, fit_body
    from inverse3d.models.smpl import BodyModel
    from inverse3d.pipeline.outputs import versions, write_report_json
    from inverse3d.viz.plots import to_uint8

    cfg = config_from_flags(args, SMPLifyConfig)
    t0 = time.perf_counter()
    for what, p in (("image", args.image), ("keypoints", args.keypoints), ("model", args.model)):
        if not Path(p).is_file():
            raise FileNotFoundError(f"{p}: no such {what} file")
    model = BodyModel(load_body_model_file(args.model))
    gmm = GaussianMixturePrior.from_file(args.gmm) if args.gmm else None
    image = read_image_file(args.image)
    H, W = image.shape[:2]
    kp = read_keypoints(args.keypoints, model.joint_names)
    focal = kp["focal"] or float(max(H, W))
    pp = kp["principal"] if kp["principal"] is not None else torch.tensor([W / 2.0, H / 2.0])
    out = verb_run_folder(args, f"body-{Path(args.image).stem}")
    dev = torch.device(args.device)
    model = model.to(dev)
    try:
        res = fit_body(
            model,
            kp["keypoints"][None],
            kp["confidence"][None],
            focal,
            pp[None],
            cfg,
            gmm=gmm.to(dev) if gmm is not None else None,
        )
    except ValueError as e:
        raise InputError(f"{args.keypoints}: {e}") from None
    metrics: dict[str, Any] = {"reprojection_error_px": float(res.reprojection_error[0])}
    truth = kp["truth"]
    if truth is not None:
        try:
            gt = model(
                truth.get("betas", torch.zeros(model.num_betas))[None].to(dev),
                truth["pose"].reshape(1, model.num_joints, 3).to(dev),
                truth.get("transl", torch.zeros(3))[None].to(dev),
            )
        except (KeyError, RuntimeError, ValueError) as e:
            raise InputError(
                f"{args.keypoints}: truth needs betas, pose (J x 3), transl ({e})"
            ) from None
        err = body_errors(res.joints, gt.joints, res.vertices, gt.vertices)
        metrics.update({k: float(v[0]) for k, v in err.items()})
    K = torch.tensor([[focal, 0.0, float(pp[0])], [0.0, focal, float(pp[1])], [0.0, 0.0, 1.0]])
    overlay = render_overlay(model, res.vertices[0], K, image.cpu())
    Image.fromarray(to_uint8(overlay)).save(out / "overlay.png")
    save_obj(out / "body.obj", res.vertices[0].cpu(), model.faces.cpu())
    params = {
        "betas": res.betas[0].tolist(),
        "pose": res.pose[0].tolist(),
        "transl": res.transl[0].tolist(),
        "joints": res.joints[0].tolist(),
        "joint_names": list(model.joint_names),
        "camera": {"focal_length": focal, "principal_point": pp.tolist(), "frame": "opencv"},
    }
    (out / "params.json").write_text(json.dumps(params, indent=2) + "\n")
    write_report_json(
        out,
        {
            "command": "fit-body",
            "image": args.image,
            "keypoints": args.keypoints,
            "model": args.model,
            "gmm": args.gmm,
            "metrics": metrics,
            "metric_definitions": {
                "reprojection_error_px": "mean pixel distance of projected joints to keypoints "
                "with confidence > 0",
                "mpjpe": "mean joint distance after root (pelvis) alignment, model units",
                "mpjpe_abs": "mean joint distance in the camera frame (translation included)",
                "mpjpe_scaled": "root-aligned, prediction scaled by the least-squares factor "
                "(keypoints cannot tell a body's size from its depth)",
                "pa_mpjpe": "mean joint distance after Procrustes (similarity) alignment",
                "v2v": "mean vertex distance after root alignment",
            },
            "settings": dataclasses.asdict(cfg),
            "time_s": time.perf_counter() - t0,
            "versions": versions(),
        },
    )
    line = f"reprojection error {metrics['reprojection_error_px']:.2f} px"
    if "mpjpe" in metrics:
        line += f", MPJPE {metrics['mpjpe']:.4f}, PA-MPJPE {metrics['pa_mpjpe']:.4f}"
    print(f"{line}; saved {out}/body.obj, overlay.png, params.json, report.json")
    return 0
