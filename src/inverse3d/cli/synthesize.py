"""`inverse3d synthesize IMAGE --angle A --checkpoint C`: a novel view of one image (SynSin).

The camera turns by A degrees about its vertical axis (positive: towards the image's left,
PyTorch3D's +x) and optionally moves (--shift-x, --shift-z, in the training scenes' units).
The image is centre-cropped to a square and resized to the model's size. With --feedback N
(default 5) the output is fed back as the input N times (the book's feedback loop), each step
by the same camera motion: feedback.gif and feedback.png show the input and the N outputs.
Writes output.png, feedback.gif, feedback.png and report.json into a run folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

from inverse3d.cli._common import (
    add_device_flag,
    add_run_folder_flags,
    read_image_file,
    verb_device,
    verb_run_folder,
)

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = (
    "Synthesize a novel view of one image with a model from 'train-synsin': turn the camera by "
    "--angle degrees (and move it by --shift-x / --shift-z); the output is fed back --feedback "
    "times and written as a GIF."
)
EXAMPLES = (
    "inverse3d synthesize room.png --angle 10 --checkpoint runs/synsin/model.pt",
    "inverse3d synthesize room.png --angle -5 --shift-z 0.1 --feedback 5 --checkpoint model.pt",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="PNG/JPG image (an indoor-like view as the training data)")
    p.add_argument("--checkpoint", required=True, help="model.pt written by 'train-synsin'")
    p.add_argument("--angle", type=float, required=True, help="yaw of the new view, degrees")
    p.add_argument("--shift-x", type=float, default=0.0, help="camera move along +x (left)")
    p.add_argument("--shift-z", type=float, default=0.0, help="camera move along +z (forward)")
    p.add_argument("--feedback", type=int, default=5, help="feedback steps in the GIF (0-100)")
    add_device_flag(p)
    add_run_folder_flags(p, "synthesize-<image file name>")


def run(args: argparse.Namespace) -> int:
    args.device = verb_device(args)
    import torch
    from PIL import Image

    from inverse3d.cli.train_synsin import load_model
    from inverse3d.common.errors import InputError
    from inverse3d.datasets.view_pairs import yaw_matrix
    from inverse3d.ops.image_resize import resize_images
    from inverse3d.pipeline.outputs import versions, write_report_json
    from inverse3d.viz.plots import to_uint8
    from inverse3d.viz.turntable import save_gif

    t0 = time.perf_counter()
    if not math.isfinite(args.angle) or abs(args.angle) > 90:
        raise InputError(f"--angle must be a number of degrees in [-90, 90]; got {args.angle}")
    for flag, v in (("--shift-x", args.shift_x), ("--shift-z", args.shift_z)):
        if not math.isfinite(v) or abs(v) > 1.0:
            raise InputError(f"{flag} must be in [-1, 1]; got {v}")
    if not 0 <= args.feedback <= 100:
        raise InputError(f"--feedback must be in 0..100; got {args.feedback}")
    if not Path(args.image).is_file():
        raise FileNotFoundError(f"{args.image}: no such image file")
    model, cfg = load_model(args.checkpoint, args.device)
    img = read_image_file(args.image)
    if img.dim() == 2:
        img = img[..., None].expand(*img.shape, 3)
    img = img[..., :3]
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    img = resize_images(img[None].float(), (cfg.image_size, cfg.image_size))[0].clamp(0, 1)
    out = verb_run_folder(args, f"synthesize-{Path(args.image).stem}")
    dev = torch.device(args.device)
    R = yaw_matrix(torch.tensor(math.radians(args.angle)))[None]  # target axes in source frame
    c = torch.tensor([[args.shift_x, 0.0, args.shift_z]])
    T = -(c[:, None, :] @ R)[:, 0]  # X_t = (X_s - c) R
    R, T = R.to(dev), T.to(dev)
    frames = [img.permute(2, 0, 1)[None].to(dev)]
    with torch.no_grad():
        for _ in range(max(args.feedback, 1)):
            frames.append(model(frames[-1], R, T).image)
    Image.fromarray(to_uint8(frames[1][0].permute(1, 2, 0).cpu())).save(out / "output.png")
    seq = torch.cat(frames[: args.feedback + 1]).permute(0, 2, 3, 1).cpu()  # (N + 1, S, S, 3)
    if args.feedback:
        save_gif(seq, out / "feedback.gif", fps=2.0)
        Image.fromarray(to_uint8(torch.cat(list(seq), 1))).save(out / "feedback.png")
    write_report_json(
        out,
        {
            "command": "synthesize",
            "image": args.image,
            "checkpoint": args.checkpoint,
            "camera": {"angle_deg": args.angle, "shift_x": args.shift_x, "shift_z": args.shift_z},
            "relative_camera": {"R": R[0].cpu().tolist(), "T": T[0].cpu().tolist()},
            "feedback_steps": args.feedback,
            "outputs": ["output.png"] + (["feedback.gif", "feedback.png"] if args.feedback else []),
            "image_size": cfg.image_size,
            "settings": dataclasses.asdict(cfg),
            "time_s": time.perf_counter() - t0,
            "versions": versions(),
        },
    )
    print(f"saved {out}/output.png" + (", feedback.gif" if args.feedback else "") + ", report.json")
    return 0
