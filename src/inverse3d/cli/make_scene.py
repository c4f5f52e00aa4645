"""`inverse3d make-scene`: write the built-in scene in the folder format."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from inverse3d.common.errors import InputError

HELP = "Write the built-in scene (images, masks, depths, cameras.json, mesh) to a folder."
EXAMPLES = ("inverse3d make-scene data/mug && inverse3d reconstruct --data data/mug",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir")
    p.add_argument("--views", type=int, default=40, help="training views (default 40)")
    p.add_argument("--test-views", type=int, default=8, help="held-out views (default 8)")
    p.add_argument("--image-size", type=int, default=128, help="image side (default 128)")
    p.add_argument("--seed", type=int, default=0, help="palette seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing scene folder")


def run(args: argparse.Namespace) -> int:
    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.datasets.synthetic import make_synthetic_scene

    for flag, v, low in (
        ("--views", args.views, 1),
        ("--test-views", args.test_views, 0),
        ("--image-size", args.image_size, 8),
    ):
        if v < low:
            raise InputError(f"{flag} must be >= {low}; got {v}")
    out = Path(args.out_dir)
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise InputError(f"{out}: folder exists and is not empty; pass --overwrite")
        if not (out / "cameras.json").is_file():
            raise InputError(
                f"{out}: not a scene folder written by make-scene (no cameras.json); "
                "it is never deleted, even with --overwrite"
            )
        shutil.rmtree(out)
    scene = make_synthetic_scene(
        n_views=args.views, n_test=args.test_views, image_size=args.image_size, seed=args.seed
    )
    write_folder_scene(scene, out)
    print(f"wrote the built-in scene ({len(scene)} views, {args.image_size}px) to {out}/")
    return 0
