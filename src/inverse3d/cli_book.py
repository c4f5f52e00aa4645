"""The book's workflows as `inverse3d` subcommands: render (ch.2), fit-mesh (ch.3), pose (ch.4).

Parsers are added to the main parser by `_add_book_commands`; errors are raised as `UsageError`
(exit code 2 through `inverse3d.cli.main`).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from inverse3d._cli_util import UsageError, load_mesh_file, load_points_file

_RAW = argparse.RawDescriptionHelpFormatter


def _prepare_out(path: Path, overwrite: bool) -> Path:
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise UsageError(f"{path}: output folder exists; pass --overwrite to replace it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _add_book_commands(add) -> None:
    p = add(
        "render",
        "Render a mesh (book ch.2): views around it or a turntable GIF, with chosen lights and "
        "material.",
        "inverse3d render cow.obj --views 8 --light point --light-location 0 1 -3 --out cow",
    )
    p.add_argument("mesh")
    p.add_argument("--out", default=None, help="output folder (default render-<mesh name>)")
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")

    p = add(
        "fit-mesh",
        "Deform a sphere to a point cloud (book ch.3); writes the mesh and a before/after figure "
        "and prints the chamfer distance to the points.",
        "inverse3d fit-mesh pedestrian.ply --steps 1000 --out fit",
    )
    p.add_argument("points", help="PLY (or OBJ/OFF) file whose vertices are the points")
    p.add_argument("--out", default=None, help="output folder (default fit-<file name>)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default 1000)")
    p.add_argument("--level", type=int, default=None, help="ico-sphere level (default 4)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add(
        "pose",
        "Estimate the camera of one image (RGB or silhouette) of a known mesh by differentiable "
        "silhouette rendering with random restarts (book ch.4); prints and saves the pose and an "
        "overlay image.",
        "inverse3d pose teapot.obj teapot_view.png --restarts 4 --out pose",
    )
    p.add_argument("mesh")
    p.add_argument("image", help="PNG/JPG: RGB (background subtracted), RGBA (alpha) or a mask")
    p.add_argument("--out", default=None, help="output folder (default pose-<image name>)")
    p.add_argument("--steps", type=int, default=None, help="Adam steps per start (default 200)")
    p.add_argument("--restarts", type=int, default=None, help="random restarts (default 4)")
    p.add_argument(
        "--start",
        type=float,
        nargs=3,
        default=None,
        metavar=("X", "Y", "Z"),
        help="first camera centre (default 3.0 6.9 2.5)",
    )
    p.add_argument("--fov", type=float, default=None, help="camera field of view (default 60)")
    p.add_argument("--image-size", type=int, default=None, help="render size (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random restarts")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")


def _read_image(path_str: str):
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    path = Path(path_str)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(
                im.convert("RGBA")
                if im.mode in ("RGBA", "LA", "P")
                else (
                    im.convert("L")
                    if im.mode in ("L", "1", "I", "I;16", "F")
                    else im.convert("RGB")
                )
            )
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: unreadable image ({e})") from e
    return torch.from_numpy(arr.astype(np.float32) / 255.0)


def cmd_render(args) -> int:
    import torch

    from inverse3d.renderer.lighting import AmbientLights, DirectionalLights, PointLights
    from inverse3d.renderer.materials import Materials
    from inverse3d.viz.turntable import (
        render_mesh_views,
        render_turntable,
        save_gif,
        turntable_cameras,
    )

    mesh = load_mesh_file(args.mesh, include_textures=True)
    out = _prepare_out(Path(args.out or f"render-{Path(args.mesh).stem}"), args.overwrite)
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
        print(f"wrote {out / 'turntable.gif'} ({args.frames} frames)")
        return 0
    from PIL import Image

    from inverse3d.viz.plots import to_uint8

    cams = turntable_cameras(mesh, n_frames=args.views, elev=args.elev)
    imgs = render_mesh_views(
        mesh, cams, args.image_size, lights=lights, materials=materials, background=bg
    )
    for i, img in enumerate(imgs):
        Image.fromarray(to_uint8(img)).save(out / f"view_{i:03d}.png")
    save_gif(imgs[..., :3], out / "views.gif", fps=4)
    del torch
    print(f"wrote {len(imgs)} images to {out}/")
    return 0


def cmd_fit_mesh(args) -> int:
    import torch

    from inverse3d.methods.common import save_mesh_files
    from inverse3d.methods.fit_points import (
        FitPointsConfig,
        chamfer_to_points,
        fit_mesh_to_points,
    )
    from inverse3d.viz.plots import plot_loss

    path = Path(args.points)
    pts = load_points_file(args.points).points_packed()
    if pts.shape[0] == 0:
        raise ValueError(f"{path}: no points")
    if not torch.isfinite(pts).all():
        raise ValueError(f"{path}: points contain NaN or inf")
    out = _prepare_out(Path(args.out or f"fit-{path.stem}"), args.overwrite)
    cfg = FitPointsConfig()
    if args.steps is not None:
        cfg.steps = args.steps
    if args.level is not None:
        cfg.level = args.level
    initial, fitted, history = fit_mesh_to_points(pts, cfg, progress=not args.quiet)
    save_mesh_files(out, fitted.verts_packed(), fitted.faces_packed())
    plot_loss(history, out / "loss.png") if history else None
    _before_after(pts, initial, fitted, out / "before_after.png")
    ch0 = chamfer_to_points(initial, pts)
    ch = chamfer_to_points(fitted, pts)
    (out / "fit.json").write_text(
        json.dumps(
            {
                "points": str(path),
                "n_points": int(pts.shape[0]),
                "steps": cfg.steps,
                "chamfer_before": ch0,
                "chamfer": ch,
            },
            indent=2,
        )
        + "\n"
    )
    print(
        f"chamfer distance to the points: {ch:.6g} (sphere before fitting: {ch0:.6g}); "
        f"mesh in {out}/mesh.ply"
    )
    return 0


def _before_after(pts, initial, fitted, path: Path) -> None:
    from inverse3d.viz.plots import _pyplot

    plt = _pyplot()
    fig = plt.figure(figsize=(9, 4.5), dpi=100)
    p = pts.detach().cpu().numpy()
    for k, (mesh, title) in enumerate(((initial, "before"), (fitted, "after"))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        v = mesh.verts_packed().detach().cpu().numpy()
        f = mesh.faces_packed().cpu().numpy()
        ax.plot_trisurf(v[:, 0], v[:, 2], f, v[:, 1], color=(0.6, 0.7, 0.9, 0.5), lw=0.1)
        ax.scatter(p[:, 0], p[:, 2], p[:, 1], s=2, c="k")
        ax.set_title(title)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cmd_pose(args) -> int:
    import torch
    from PIL import Image

    from inverse3d.methods.pose import PoseConfig, estimate_pose, silhouette_from_image
    from inverse3d.viz.plots import to_uint8

    mesh = load_mesh_file(args.mesh)
    image = _read_image(args.image)
    cfg = PoseConfig()
    for k in ("steps", "restarts", "fov", "image_size"):
        if getattr(args, k) is not None:
            setattr(cfg, k, getattr(args, k))
    if args.start is not None:
        cfg.start = tuple(args.start)
    out = _prepare_out(Path(args.out or f"pose-{Path(args.image).stem}"), args.overwrite)
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
    target = torch.nn.functional.interpolate(target[None, None], size=(size, size), mode="area")[
        0, 0
    ]
    overlay = torch.stack([target, res.silhouette.cpu(), torch.zeros_like(target)], -1)
    Image.fromarray(to_uint8(overlay)).save(out / "overlay.png")
    c = res.centre.tolist()
    print(
        f"camera centre ({c[0]:.4f}, {c[1]:.4f}, {c[2]:.4f}): dist {sph['dist']:.4f}, "
        f"elev {sph['elev']:.2f}, azim {sph['azim']:.2f} deg, loss {res.loss:.3g}; "
        f"saved {out}/pose.json and overlay.png (red target, green fit)"
    )
    return 0
