"""Interactive plotly figures of Meshes, Pointclouds, cameras and ray bundles (PyTorch3D's
`vis.plotly_vis`: same functions, arguments, trace names and axis handling).

plotly is imported only when a figure is made: `get_camera_wireframe`, `AxisArgs` and
`Lighting` work without it, and `plot_scene` / `plot_batch_individually` raise ImportError
("plotly is needed for ...; pip install plotly") when it is missing.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import torch

from inverse3d.renderer.camera_utils import camera_to_eye_at_up
from inverse3d.renderer.cameras import CamerasBase
from inverse3d.renderer.implicit.utils import (
    HeterogeneousRayBundle,
    RayBundle,
    ray_bundle_to_ray_points,
)
from inverse3d.renderer.mesh.textures import TexturesAtlas, TexturesVertex
from inverse3d.structures.meshes import Meshes, join_meshes_as_scene
from inverse3d.structures.pointclouds import Pointclouds

__all__ = [
    "AxisArgs",
    "Lighting",
    "get_camera_wireframe",
    "plot_batch_individually",
    "plot_scene",
]

_RAY_FIELDS = ("origins", "directions", "lengths", "xys")


def _plotly(what: str):
    """(plotly.graph_objects, plotly.subplots.make_subplots), or ImportError naming `what`."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError as err:
        raise ImportError(
            f"plotly is needed for {what}; pip install plotly (or pip install inverse3d[vis])"
        ) from err
    return go, make_subplots


def get_camera_wireframe(scale: float = 0.3) -> torch.Tensor:
    """The polyline of PyTorch3D's camera symbol in view space: a 2 x 1.5 image rectangle at
    z = 2 with a small "up" tick, joined to the centre, plus a segment along the optical axis
    to z = 3. Returns (15, 3) float points, multiplied by `scale`."""
    rect = {  # the corners of the image rectangle and the up tick, at z = 2
        "tl": (-1.0, 0.75),
        "tr": (1.0, 0.75),
        "bl": (-1.0, -0.75),
        "br": (1.0, -0.75),
        "up": (0.0, 0.75),
        "tip": (0.0, 1.0),
    }
    path = ["tl", "up", "tip", "up", "tr", "br", "bl", "tl", "C", "tr", "br", "C", "bl", "C", "F"]
    pts = []
    for name in path:
        if name == "C":
            pts.append((0.0, 0.0, 0.0))
        elif name == "F":
            pts.append((0.0, 0.0, 3.0))
        else:
            pts.append((*rect[name], 2.0))
    return torch.tensor(pts, dtype=torch.float32) * scale


class AxisArgs(NamedTuple):
    """Settings applied to the three axes of every subplot (plotly scene axis properties)."""

    showgrid: bool = False
    zeroline: bool = False
    showline: bool = False
    ticks: str = ""
    showticklabels: bool = False
    backgroundcolor: str = "#fff"
    showaxeslabels: bool = False


class Lighting(NamedTuple):
    """plotly Mesh3d lighting of the mesh traces."""

    ambient: float = 0.8
    diffuse: float = 1.0
    fresnel: float = 0.0
    specular: float = 0.0
    roughness: float = 0.5
    facenormalsepsilon: float = 1e-6
    vertexnormalsepsilon: float = 1e-12


def _is_ray_bundle(struct: Any) -> bool:
    return all(hasattr(struct, f) for f in _RAY_FIELDS)


def _is_heterogeneous(struct: Any) -> bool:
    return isinstance(struct, HeterogeneousRayBundle) or (
        _is_ray_bundle(struct) and getattr(struct, "camera_counts", None) is not None
    )


def _len(struct: Any) -> int:
    """Batch size of a structure (or of the longest of a list of structures)."""
    if isinstance(struct, (list, tuple)):
        return max((_len(s) for s in struct), default=0)
    if _is_heterogeneous(struct):
        return int(struct.camera_counts.shape[0])
    if _is_ray_bundle(struct):
        return int(struct.directions.shape[0])
    return len(struct)


def _cell(subplot_idx: int, ncols: int) -> tuple[int, int]:
    return subplot_idx // ncols + 1, subplot_idx % ncols + 1


def _grow_bounds(layout: Any, center: torch.Tensor, half: float) -> None:
    """Widen the scene's axis ranges to hold the cube of half-size `half` around `center`."""
    center = center.detach().cpu().double()
    for k, axis in enumerate(("xaxis", "yaxis", "zaxis")):
        lo, hi = float(center[k]) - float(half), float(center[k]) + float(half)
        old = layout[axis]["range"]
        if old is not None:
            lo, hi = min(lo, old[0]), max(hi, old[1])
        layout[axis].update(range=[lo, hi])


def _spread(points: torch.Tensor) -> float:
    return float((points.max(0).values - points.min(0).values).max())


def _with_gaps(polylines: torch.Tensor) -> torch.Tensor:
    """(B, L, 3) polylines -> (B L + B - 1, 3) joined by NaN rows (plotly breaks lines there)."""
    gap = polylines.new_full((polylines.shape[0], 1, 3), float("nan"))
    joined = torch.cat([polylines, gap], dim=1).reshape(-1, 3)
    return joined[:-1]


def _add_mesh(fig, go, meshes: Meshes, name: str, idx: int, ncols: int, lighting: dict) -> None:
    mesh = join_meshes_as_scene(meshes).detach().cpu()
    verts = mesh.verts_packed().clone()
    faces = mesh.faces_packed()
    vertexcolor = facecolor = None
    if isinstance(mesh.textures, TexturesVertex):
        vertexcolor = mesh.textures.verts_features_packed().clamp(0.0, 1.0) * 255.0
    elif isinstance(mesh.textures, TexturesAtlas):
        atlas = mesh.textures.atlas_packed()
        if atlas.shape[1] == 1 and atlas.shape[3] == 3:
            facecolor = atlas[:, 0, 0]
    used = torch.zeros(verts.shape[0], dtype=torch.bool)
    used[faces.unique()] = True
    center = verts[used].mean(0)
    verts[~used] = center  # unreferenced vertices must not widen the axes
    v, f = verts.numpy(), faces.numpy()
    if vertexcolor is not None:
        vertexcolor = vertexcolor.numpy()
    if facecolor is not None:
        facecolor = facecolor.numpy()
    row, col = _cell(idx, ncols)
    fig.add_trace(
        go.Mesh3d(
            x=v[:, 0],
            y=v[:, 1],
            z=v[:, 2],
            vertexcolor=vertexcolor,
            facecolor=facecolor,
            i=f[:, 0],
            j=f[:, 1],
            k=f[:, 2],
            lighting=lighting,
            name=name,
        ),
        row=row,
        col=col,
    )
    _grow_bounds(fig["layout"][f"scene{idx + 1}"], center, _spread(verts))


def _colors(features: torch.Tensor | None) -> list[str] | None:
    if features is None or features.shape[1] not in (3, 4):
        return None
    rgb = (features[:, :3].clamp(0.0, 1.0) * 255).int().tolist()
    if features.shape[1] == 3:
        return ["rgb(%d, %d, %d)" % tuple(c) for c in rgb]
    alpha = features[:, 3].tolist()
    return ["rgb(%d, %d, %d, %f)" % (*c, a) for c, a in zip(rgb, alpha)]


def _add_points(
    fig, go, pcl: Pointclouds, name: str, idx: int, ncols: int, max_points: int, size: int
) -> None:
    pcl = pcl.detach().cpu().subsample(max_points)
    pts = pcl.points_packed()
    xyz = pts.numpy().astype(float)
    row, col = _cell(idx, ncols)
    fig.add_trace(
        go.Scatter3d(
            x=xyz[:, 0],
            y=xyz[:, 1],
            z=xyz[:, 2],
            marker={"color": _colors(pcl.features_packed()), "size": size},
            mode="markers",
            name=name,
        ),
        row=row,
        col=col,
    )
    _grow_bounds(fig["layout"][f"scene{idx + 1}"], pts.mean(0), _spread(pts))


def _add_cameras(fig, go, cameras: CamerasBase, name: str, idx: int, ncols: int, scale: float):
    wire = get_camera_wireframe(scale).to(cameras.device)
    view_to_world = cameras.get_world_to_view_transform().inverse()
    world = view_to_world.transform_points(wire).detach().cpu()
    if world.dim() == 2:
        world = world[None]  # (B, 15, 3)
    line = _with_gaps(world).numpy().astype(float)
    row, col = _cell(idx, ncols)
    fig.add_trace(
        go.Scatter3d(x=line[:, 0], y=line[:, 1], z=line[:, 2], marker={"size": 1}, name=name),
        row=row,
        col=col,
    )
    flat = world.reshape(-1, 3)
    _grow_bounds(fig["layout"][f"scene{idx + 1}"], flat.mean(0), _spread(flat))


def _flat_rays(bundle: Any) -> RayBundle:
    return RayBundle(
        *(getattr(bundle, f).reshape(-1, getattr(bundle, f).shape[-1]) for f in _RAY_FIELDS)
    )


def _add_rays(fig, go, bundle: Any, name: str, idx: int, ncols: int, opts: dict) -> None:
    flat = _flat_rays(bundle)
    n_rays, n_pts = flat.lengths.shape
    if n_rays > opts["max_rays"]:
        keep = torch.randperm(n_rays)[: opts["max_rays"]]
        flat = RayBundle(*(getattr(flat, f)[keep] for f in _RAY_FIELDS))
    ends = torch.stack([flat.lengths.min(1).values, flat.lengths.max(1).values], dim=-1)
    segments = ray_bundle_to_ray_points(flat._replace(lengths=ends)).detach().cpu()  # (R, 2, 3)
    line = _with_gaps(segments).numpy().astype(float)
    row, col = _cell(idx, ncols)
    fig.add_trace(
        go.Scatter3d(
            x=line[:, 0],
            y=line[:, 1],
            z=line[:, 2],
            marker={"size": 0.1},
            line={"width": opts["line_width"]},
            name=name,
        ),
        row=row,
        col=col,
    )
    if n_pts > opts["max_points_per_ray"]:
        keep = torch.stack(
            [
                torch.randperm(n_pts)[: opts["max_points_per_ray"]]
                for _ in range(flat.lengths.shape[0])
            ]
        )
        flat = flat._replace(lengths=flat.lengths.gather(1, keep.to(flat.lengths.device)))
    pts = ray_bundle_to_ray_points(flat).reshape(-1, 3).detach().cpu().numpy().astype(float)
    fig.add_trace(
        go.Scatter3d(
            x=pts[:, 0],
            y=pts[:, 1],
            z=pts[:, 2],
            mode="markers",
            name=name + "_points",
            marker={"size": opts["marker_size"]},
        ),
        row=row,
        col=col,
    )
    everything = ray_bundle_to_ray_points(bundle).reshape(-1, 3).detach().cpu()
    _grow_bounds(fig["layout"][f"scene{idx + 1}"], everything.mean(0), _spread(everything))


def _to_plotly_view(value: float, axis_range: Any, is_position: bool) -> float:
    """World coordinate -> plotly's camera coordinates, where the axis range maps to [-1, 1]
    (directions are only scaled)."""
    half = (axis_range[1] - axis_range[0]) / 2
    if not is_position:
        return value / half
    return value / half - (axis_range[1] / half - 1)


@torch.no_grad()
def plot_scene(
    plots: dict[str, dict[str, Any]],
    *,
    viewpoint_cameras: CamerasBase | None = None,
    ncols: int = 1,
    camera_scale: float = 0.3,
    pointcloud_max_points: int = 20000,
    pointcloud_marker_size: int = 1,
    raybundle_max_rays: int = 20000,
    raybundle_max_points_per_ray: int = 1000,
    raybundle_ray_point_marker_size: int = 1,
    raybundle_ray_line_width: int = 1,
    **kwargs: Any,
):
    """A plotly figure with one 3D subplot per key of `plots` and one trace per inner key.

    Args:
        plots: {subplot title: {trace name: Meshes | Pointclouds | cameras | RayBundle |
            HeterogeneousRayBundle}}. A batched structure is drawn as one trace.
        viewpoint_cameras: cameras whose viewpoints the subplots are seen from: one per
            subplot, or one for all (another count warns and is ignored).
        ncols: subplots per row.
        camera_scale: size of the camera wireframes.
        pointcloud_max_points: at most this many points per point cloud (random subset).
        pointcloud_marker_size: marker size of the points.
        raybundle_max_rays: at most this many rays per bundle (random subset).
        raybundle_max_points_per_ray: at most this many points drawn per ray.
        raybundle_ray_point_marker_size, raybundle_ray_line_width: ray drawing sizes.
        **kwargs: lighting (Lighting), axis_args (AxisArgs, applied to the 3 axes), and
            xaxis / yaxis / zaxis dicts of plotly scene-axis settings.

    Returns:
        plotly.graph_objects.Figure. Axes are scaled to a cube holding every trace, with +Y up
        (PyTorch3D's world convention).
    """
    go, make_subplots = _plotly("plot_scene")
    if not isinstance(plots, dict):
        raise TypeError(f"plots must be a dict of dicts; got {type(plots).__name__}")
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be an int >= 1; got {ncols!r}")
    titles = list(plots)
    rows = -(-len(titles) // ncols)
    fig = make_subplots(
        rows=max(rows, 1),
        cols=ncols,
        specs=[[{"type": "scene"}] * ncols] * max(rows, 1),
        subplot_titles=titles,
        column_widths=[1.0] * ncols,
    )
    lighting = kwargs.get("lighting", Lighting())._asdict()
    axis_defaults = kwargs.get("axis_args", AxisArgs())._asdict()
    axis_settings = {a: {**axis_defaults, **kwargs.get(a, {})} for a in ("xaxis", "yaxis", "zaxis")}
    ray_opts = {
        "max_rays": raybundle_max_rays,
        "max_points_per_ray": raybundle_max_points_per_ray,
        "marker_size": raybundle_ray_point_marker_size,
        "line_width": raybundle_ray_line_width,
    }

    eye_at_up = None
    if viewpoint_cameras is not None:
        n_view = len(viewpoint_cameras)
        if n_view in (1, len(titles)):
            eye_at_up = camera_to_eye_at_up(viewpoint_cameras.get_world_to_view_transform().cpu())
        else:
            warnings.warn(
                f"Invalid number {n_view} of viewpoint cameras were provided. Either 1 or "
                f"{len(titles)} cameras are required",
                stacklevel=2,
            )

    for idx, title in enumerate(titles):
        for name, struct in plots[title].items():
            if isinstance(struct, Meshes):
                _add_mesh(fig, go, struct, name, idx, ncols, lighting)
            elif isinstance(struct, Pointclouds):
                _add_points(
                    fig, go, struct, name, idx, ncols, pointcloud_max_points, pointcloud_marker_size
                )
            elif isinstance(struct, CamerasBase):
                _add_cameras(fig, go, struct, name, idx, ncols, camera_scale)
            elif _is_ray_bundle(struct):
                _add_rays(fig, go, struct, name, idx, ncols, ray_opts)
            else:
                raise ValueError(
                    f"struct {struct} is not a Cameras, Meshes, Pointclouds, , RayBundle or "
                    "HeterogeneousRayBundle object."
                )
        layout = fig["layout"][f"scene{idx + 1}"]
        for axis, settings in axis_settings.items():
            layout[axis].update(**settings)
        camera: dict[str, dict[str, float]] = {"up": {"x": 0.0, "y": 1.0, "z": 0.0}}
        if eye_at_up is not None:
            v = min(len(viewpoint_cameras) - 1, idx)
            ranges = [layout[a]["range"] for a in ("xaxis", "yaxis", "zaxis")]
            if all(r is not None for r in ranges):
                eye, at, up = (t[v].tolist() for t in eye_at_up)
                keys = ("x", "y", "z")
                camera["eye"] = {
                    k: _to_plotly_view(e, r, True) for k, e, r in zip(keys, eye, ranges)
                }
                camera["center"] = {
                    k: _to_plotly_view(a, r, True) for k, a, r in zip(keys, at, ranges)
                }
                camera["up"] = {
                    k: _to_plotly_view(u, r, False) for k, u, r in zip(keys, up, ranges)
                }
        layout.update(aspectmode="cube", camera=camera)
    return fig


def _one_element(struct: Any, scene: int, first_idxs: torch.Tensor | None) -> Any:
    """Batch element min(scene, len - 1) of a structure, as a structure of batch size 1."""
    i = min(scene, _len(struct) - 1)
    if isinstance(struct, CamerasBase):
        R, T = struct.R, struct.T
        return CamerasBase(
            device=struct.device,
            R=R[min(scene, len(R) - 1)][None],
            T=T[min(scene, len(T) - 1)][None],
        )
    if _is_heterogeneous(struct) and first_idxs is not None:
        lo, hi = int(first_idxs[i]), int(first_idxs[i + 1])
        return RayBundle(*(getattr(struct, f)[lo:hi] for f in _RAY_FIELDS))
    if _is_ray_bundle(struct):
        return RayBundle(*(getattr(struct, f)[i] for f in _RAY_FIELDS))
    return struct[i]


def _first_idxs(struct: Any) -> torch.Tensor | None:
    if not _is_heterogeneous(struct):
        return None
    cum = struct.camera_counts.cumsum(0)
    return torch.cat([cum.new_zeros(1), cum])


@torch.no_grad()
def plot_batch_individually(
    batched_structs: Any,
    *,
    viewpoint_cameras: CamerasBase | None = None,
    ncols: int = 1,
    extend_struct: bool = True,
    subplot_titles: list[str] | None = None,
    **kwargs: Any,
):
    """One subplot per batch element of the given structures (see plot_scene).

    Args:
        batched_structs: one structure or a list of them; in a list each must have batch size
            n (the number of subplots) or 1. Element i of each goes to subplot i (trace name
            "trace{i+1}-{j+1}" for the j-th structure); a batch-size-1 structure is repeated
            in every subplot.
        viewpoint_cameras, ncols, **kwargs: passed to plot_scene.
        extend_struct: True: a structure of batch size 1 appears in every subplot; False: only
            in the first (PyTorch3D's documented behaviour; its code compares the structure's
            position in the list instead of the subplot index, see docs/vis.md).
        subplot_titles: n titles (default "subplot 1", ...).

    Returns:
        plotly Figure, or None (with a warning) when there is nothing to plot.
    """
    _plotly("plot_batch_individually")
    if _len(batched_structs) == 0:
        warnings.warn("No structs to plot", stacklevel=2)
        return None
    structs = batched_structs if isinstance(batched_structs, list) else None
    if structs is not None:
        n = max(_len(s) for s in structs)
        for s in structs:
            if _len(s) not in (1, n):
                raise ValueError(f"invalid batch size {_len(s)} provided: {s}")
    else:
        n = _len(batched_structs)
    if subplot_titles and len(subplot_titles) != n:
        raise ValueError("invalid number of subplot titles")
    scenes: dict[str, dict[str, Any]] = {}
    for scene in range(n):
        title = subplot_titles[scene] if subplot_titles else f"subplot {scene + 1}"
        scenes[title] = {}
        if structs is None:
            scenes[title][f"trace{scene + 1}-1"] = _one_element(
                batched_structs, scene, _first_idxs(batched_structs)
            )
            continue
        for j, s in enumerate(structs):
            if scene >= _len(s) and not extend_struct:
                continue
            scenes[title][f"trace{scene + 1}-{j + 1}"] = _one_element(s, scene, _first_idxs(s))
    return plot_scene(scenes, viewpoint_cameras=viewpoint_cameras, ncols=ncols, **kwargs)
