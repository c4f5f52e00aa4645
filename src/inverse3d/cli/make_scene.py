"""`inverse3d make-scene`: write the built-in scene, or a mesh seen by the rings rig, in the folder
format."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from inverse3d.common.errors import InputError

HELP = (
    "Write the built-in scene, or a mesh rendered by the rings rig (--mesh M --rig rings), "
    "to a folder (images, masks, depths, cameras.json, mesh)."
)
EXAMPLES = (
    "inverse3d make-scene data/mug && inverse3d reconstruct --data data/mug",
    "inverse3d make-scene data/cow --mesh cow.obj --rig rings --png16",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir")
    p.add_argument("--views", type=int, default=40, help="training views (default 40)")
    p.add_argument("--test-views", type=int, default=8, help="held-out views (default 8)")
    p.add_argument("--image-size", type=int, default=128, help="image side (default 128)")
    p.add_argument("--seed", type=int, default=0, help="palette seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing scene folder")
    p.add_argument(
        "--mesh",
        default=None,
        help="mesh file (OBJ/PLY/OFF) to render instead of the built-in mug (needs --rig rings)",
    )
    p.add_argument(
        "--rig",
        choices=("builtin", "rings"),
        default=None,
        help="cameras and light: builtin (the mug's: 40 + 8 views around it) or rings (two "
        "rings of 30 views over half a turn at elevations 10 and 40 degrees, a white "
        "Lambertian object under one point light at (2, 3, 2), black background); default "
        "builtin, or rings with --mesh",
    )
    p.add_argument(
        "--png16",
        action="store_true",
        help="write 16-bit PNG images scaled by the maximum brightness (the brightest sample "
        "becomes 65535; the scale is recorded in cameras.json)",
    )


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
    rig = args.rig or ("rings" if args.mesh else "builtin")
    if args.mesh is not None and rig != "rings":
        raise InputError("--mesh renders with the rings rig only; pass --rig rings")
    if rig == "rings":
        from inverse3d.datasets.synthetic import make_rings_scene, mug_mesh
        from inverse3d.io.pluggable import IO

        mesh = IO(strict=True).load_mesh(args.mesh) if args.mesh else mug_mesh(args.seed)
        if mesh.isempty():
            raise InputError(f"{args.mesh}: the mesh has no faces")
        scene = make_rings_scene(mesh, image_size=args.image_size)
        what = f"{args.mesh or 'the mug'} with the rings rig"
    else:
        scene = make_synthetic_scene(
            n_views=args.views, n_test=args.test_views, image_size=args.image_size, seed=args.seed
        )
        what = "the built-in scene"
    if args.png16:
        top = float(scene.images.max())
        if top > 0:
            scene.images = (scene.images / top).clamp(0.0, 1.0)
            scene.extra["brightness_scale"] = 1.0 / top
    write_folder_scene(scene, out, bit_depth=16 if args.png16 else 8)
    bits = "16-bit" if args.png16 else "8-bit"
    print(f"wrote {what} ({len(scene)} views, {args.image_size}px, {bits}) to {out}/")
    return 0
