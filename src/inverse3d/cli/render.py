"""`inverse3d render`: images around a mesh, or a turntable GIF (book ch.2)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from inverse3d.cli._common import add_run_folder_flags, load_mesh_file, verb_run_folder
from inverse3d.common.errors import InputError

HELP = (
    "Render a mesh (book ch.2): views around it or a turntable GIF, with chosen lights and "
    "material; writes a run folder with the images and report.json."
)
EXAMPLES = (
    "inverse3d render cow.obj --views 8 --light point --light-location 0 1 -3",
    "inverse3d render cow.obj --turntable --frames 36 --name cow-turntable",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("mesh")
    p.add_argument("--views", type=int, default=8, help="images around the mesh (default 8)")
    p.add_argument("--turntable", action="store_true", help="write turntable.gif instead")
    p.add_argument("--frames", type=int, default=36, help="turntable frames (default 36)")
    p.add_argument("--image-size", type=int, default=256, help="image side (default 256)")
    p.add_argument("--elev", type=float, default=25.0, help="camera elevation, degrees")
    p.add_argument(
        "--light",
        choices=("point", "directional", "ambient"),
        default="point",
        help="light type (default point)",
    )
    p.add_argument(
        "--light-location",
        type=float,
        nargs=3,
        default=None,
        metavar=("X", "Y", "Z"),
        help="point light location / directional light direction",
    )
    p.add_argument("--ambient", type=float, default=0.5, help="ambient intensity (default 0.5)")
    p.add_argument("--diffuse", type=float, default=0.3, help="diffuse intensity (default 0.3)")
    p.add_argument("--specular", type=float, default=0.2, help="specular intensity (default 0.2)")
    p.add_argument("--shininess", type=float, default=64.0, help="material shininess")
    p.add_argument(
        "--background",
        type=float,
        nargs=3,
        default=(1.0, 1.0, 1.0),
        metavar=("R", "G", "B"),
        help="background colour in [0, 1]",
    )
    add_run_folder_flags(p, "render-<mesh file name>")


def _check(args: argparse.Namespace) -> None:
    for flag, v in (("--views", args.views), ("--frames", args.frames)):
        if v < 1:
            raise InputError(f"{flag} must be >= 1; got {v}")
    if not 8 <= args.image_size <= 4096:
        raise InputError(f"--image-size must be in [8, 4096]; got {args.image_size}")
    if any(not 0.0 <= c <= 1.0 for c in args.background):
        raise InputError(f"--background must be 3 numbers in [0, 1]; got {list(args.background)}")
    for flag, v in (
        ("--ambient", args.ambient),
        ("--diffuse", args.diffuse),
        ("--specular", args.specular),
        ("--shininess", args.shininess),
    ):
        if v < 0:
            raise InputError(f"{flag} must be >= 0; got {v}")


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from inverse3d.pipeline.outputs import versions, write_report_json
    from inverse3d.renderer.lighting import AmbientLights, DirectionalLights, PointLights
    from inverse3d.renderer.materials import Materials
    from inverse3d.viz.plots import to_uint8
    from inverse3d.viz.turntable import (
        render_mesh_views,
        render_turntable,
        save_gif,
        turntable_cameras,
    )

    _check(args)
    t0 = time.perf_counter()
    mesh = load_mesh_file(args.mesh, include_textures=True)
    out = verb_run_folder(args, f"render-{Path(args.mesh).stem}")
    a, d, s = ((args.ambient,) * 3,), ((args.diffuse,) * 3,), ((args.specular,) * 3,)
    if args.light == "ambient":
        lights = AmbientLights(ambient_color=a)
    elif args.light == "directional":
        loc = args.light_location or (0.0, 1.0, 1.0)
        lights = DirectionalLights(
            ambient_color=a, diffuse_color=d, specular_color=s, direction=(tuple(loc),)
        )
    else:
        loc = args.light_location or (0.0, 1.0, 3.0)
        lights = PointLights(
            ambient_color=a, diffuse_color=d, specular_color=s, location=(tuple(loc),)
        )
    materials = Materials(shininess=args.shininess)
    bg = tuple(args.background)
    files: list[str] = []
    if args.turntable:
        render_turntable(
            mesh,
            out / "turntable.gif",
            n_frames=args.frames,
            image_size=args.image_size,
            elev=args.elev,
            lights=lights,
            materials=materials,
            background=bg,
        )
        files.append("turntable.gif")
        print(f"wrote {out / 'turntable.gif'} ({args.frames} frames)")
    else:
        cams = turntable_cameras(mesh, n_frames=args.views, elev=args.elev)
        imgs = render_mesh_views(
            mesh, cams, args.image_size, lights=lights, materials=materials, background=bg
        )
        for i, img in enumerate(imgs):
            Image.fromarray(to_uint8(img)).save(out / f"view_{i:03d}.png")
            files.append(f"view_{i:03d}.png")
        save_gif(imgs[..., :3], out / "views.gif", fps=4)
        files.append("views.gif")
        print(f"wrote {len(imgs)} images to {out}/")
    write_report_json(
        out,
        {
            "command": "render",
            "mesh": args.mesh,
            "verts": int(mesh.verts_packed().shape[0]),
            "faces": int(mesh.faces_packed().shape[0]),
            "light": args.light,
            "image_size": args.image_size,
            "files": files,
            "time_s": time.perf_counter() - t0,
            "versions": versions(),
        },
    )
    return 0
