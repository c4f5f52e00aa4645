"""`inverse3d pose`: the camera of one image of a known mesh (book ch.4)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from inverse3d.cli._common import (
    add_run_folder_flags,
    load_mesh_file,
    read_image_file,
    verb_run_folder,
)
from inverse3d.cli._flags import add_dataclass_flags, config_from_flags
from inverse3d.methods.pose import PoseConfig

HELP = (
    "Estimate the camera of one image (RGB or silhouette) of a known mesh by differentiable "
    "silhouette rendering with random restarts (book ch.4); writes pose.json, an overlay image "
    "and report.json."
)
EXAMPLES = ("inverse3d pose teapot.obj teapot_view.png --restarts 4 --name teapot-pose",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("mesh")
    p.add_argument("image", help="PNG/JPG: RGB (background subtracted), RGBA (alpha) or a mask")
    p.add_argument("--seed", type=int, default=0, help="seed of the random restarts")
    add_run_folder_flags(p, "pose-<image file name>")
    add_dataclass_flags(p.add_argument_group("pose settings"), PoseConfig)


def run(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    from inverse3d.methods.pose import estimate_pose, silhouette_from_image
    from inverse3d.pipeline.outputs import versions, write_report_json
    from inverse3d.viz.plots import to_uint8

    cfg = config_from_flags(args, PoseConfig)
    if len(cfg.start) != 3:
        from inverse3d.common.errors import InputError

        raise InputError(f"--start must be 3 numbers X Y Z; got {list(cfg.start)}")
    t0 = time.perf_counter()
    mesh = load_mesh_file(args.mesh)
    image = read_image_file(args.image)
    out = verb_run_folder(args, f"pose-{Path(args.image).stem}")
    res = estimate_pose(mesh, image, cfg, seed=args.seed)
    sph = res.spherical()
    pose = {
        "camera_centre": res.centre.tolist(),
        "R": res.R.tolist(),
        "T": res.T.tolist(),
        "fov": cfg.fov,
        **sph,
        "loss": res.loss,
        "starts": res.starts,
    }
    (out / "pose.json").write_text(json.dumps(pose, indent=2) + "\n")
    target = silhouette_from_image(image)
    size = res.silhouette.shape[-1]
    target = torch.nn.functional.interpolate(target[None, None], size=(size, size), mode="area")
    target = target[0, 0]
    overlay = torch.stack([target, res.silhouette.cpu(), torch.zeros_like(target)], -1)
    Image.fromarray(to_uint8(overlay)).save(out / "overlay.png")
    write_report_json(
        out,
        {
            "command": "pose",
            "mesh": args.mesh,
            "image": args.image,
            "pose": pose,
            "metrics": {"silhouette_loss": res.loss},
            "settings": dataclasses.asdict(cfg),
            "time_s": time.perf_counter() - t0,
            "versions": versions(),
        },
    )
    c = res.centre.tolist()
    print(
        f"camera centre ({c[0]:.4f}, {c[1]:.4f}, {c[2]:.4f}): dist {sph['dist']:.4f}, "
        f"elev {sph['elev']:.2f}, azim {sph['azim']:.2f} deg, loss {res.loss:.3g}; "
        f"saved {out}/pose.json and overlay.png (red target, green fit)"
    )
    return 0
