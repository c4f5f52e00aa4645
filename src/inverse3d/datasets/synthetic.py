"""The built-in scene: a textured mug rendered by our own mesh renderer.

The mug is a non-convex test object with everything that makes reconstruction hard:

* a concavity: the hollow body with a floor;
* a thin part: the wall (about 0.05 units thick after normalisation);
* a through-hole: the C-shaped handle, a tube whose capped ends are buried in the outer wall.

It is built explicitly as a triangle mesh (a surface of revolution of the body's closed profile plus
a swept tube), coloured per vertex with a seed-dependent palette, centred on its bounding box and
scaled so that its farthest vertex is at distance 0.9 from the origin. Y is up.

`make_synthetic_scene` renders it at twice the resolution with hard Phong shading under a fixed
directional light (no specular term, so the colours do not depend on the view), averages 2x2
blocks (fractional masks at the silhouette) and returns a `SceneData` with RGB on a white
background, alpha masks, view-space depth and the exact cameras as NDC `PerspectiveCameras`.
"""

from __future__ import annotations

import math

import torch

from inverse3d._validation import check_choice, check_nonneg_int, check_positive_int
from inverse3d.structures.scene import SceneData

__all__ = [
    "RINGS_LIGHT",
    "make_rings_scene",
    "make_synthetic_scene",
    "mug_camera_angles",
    "mug_mesh",
    "rings_camera_angles",
    "room_mesh",
]

# Geometry of the mug before normalisation (body radius 1, height 2).
_R_OUT = 1.0  # outer radius of the body
_R_IN = 0.9  # inner radius (wall thickness 0.1)
_HEIGHT = 2.0
_BOTTOM = 0.15  # thickness of the bottom (inner floor height)
_HANDLE_CX = 1.1  # centre of the handle's arc (x, y) and its radius
_HANDLE_CY = 1.0
_HANDLE_R = 0.5
_HANDLE_END_X = 0.95  # x where the handle's capped ends sit (inside the wall)
_TUBE_R = 0.09

_FOV = 40.0  # degrees, square images
_DIST = 2.9
_BACKGROUND = (1.0, 1.0, 1.0)

# The rings rig (make_rings_scene): camera distance, field of view, light.
_RINGS_DIST = 3.2  # the unit sphere subtends 2 asin(1 / 3.2) = 36.4 < 40 degrees: in frame
_RINGS_FOV = 40.0
RINGS_LIGHT = {"location": (2.0, 3.0, 2.0), "ambient": 0.2, "diffuse": 0.8}
"""The rings rig's one point light (world frame; grey ambient and diffuse colours, no falloff)."""


def _arc(cx, cy, r, a0, a1, n, endpoint=True):
    """Points (r, y) on a circular arc from angle a0 to a1 (radians), n points."""
    t = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    if not endpoint:
        t = t[:-1]
    a = a0 + (a1 - a0) * t
    return torch.stack([cx + r * torch.cos(a), cy + r * torch.sin(a)], dim=-1)


def _segment(p0, p1, n, endpoint=False):
    t = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    if not endpoint:
        t = t[:-1]
    p0 = torch.tensor(p0, dtype=torch.float64)
    p1 = torch.tensor(p1, dtype=torch.float64)
    return p0 + (p1 - p0) * t[:, None]


def _body_profile() -> tuple[torch.Tensor, torch.Tensor]:
    """Closed profile (r, y) of the body from the base centre to the inner floor centre.

    Returns the (M, 2) points and an (M,) int part label (0 base, 1 outer wall, 2 rim,
    3 inner wall, 4 inner floor).
    """
    c = 0.06  # corner radius at the base and at the inner floor
    h, ro, ri, b = _HEIGHT, _R_OUT, _R_IN, _BOTTOM
    t = (ro - ri) / 2.0  # rim: a half circle of radius t
    pi = math.pi
    parts = [
        (_segment((0.0, 0.0), (ro - c, 0.0), 9), 0),
        (_arc(ro - c, c, c, -pi / 2, 0.0, 5, endpoint=False), 0),
        (_segment((ro, c), (ro, h), 41), 1),
        (_arc(ro - t, h, t, 0.0, pi, 7, endpoint=False), 2),
        (_segment((ri, h), (ri, b + c), 31), 3),
        (_arc(ri - c, b + c, c, 0.0, -pi / 2, 5, endpoint=False), 3),
        (_segment((ri - c, b), (0.0, b), 8, endpoint=True), 4),
    ]
    pts = torch.cat([p for p, _ in parts])
    label = torch.cat([torch.full((len(p),), k, dtype=torch.long) for p, k in parts])
    return pts, label


def _revolve(profile: torch.Tensor, n_seg: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Surface of revolution about +y of a profile whose first and last points lie on the axis.

    Returns verts (V, 3), faces (F, 3) (outward for a profile that goes out along the bottom,
    up the outside and back in along the top) and the profile index of each vertex (V,).
    """
    M = profile.shape[0]
    ring = profile[1:-1]  # (M-2, 2) off-axis points
    phi = torch.arange(n_seg, dtype=torch.float64) * (2 * math.pi / n_seg)
    r, y = ring[:, :1], ring[:, 1:]  # (M-2, 1)
    ring_v = torch.stack(
        [r * torch.cos(phi), y.expand(-1, n_seg), -r * torch.sin(phi)], dim=-1
    ).reshape(-1, 3)  # ((M-2) * n_seg, 3), ring k at rows k * n_seg ...
    bottom = torch.tensor([[0.0, float(profile[0, 1]), 0.0]], dtype=torch.float64)
    top = torch.tensor([[0.0, float(profile[-1, 1]), 0.0]], dtype=torch.float64)
    verts = torch.cat([bottom, ring_v, top])
    n_ring = M - 2
    j = torch.arange(n_seg)
    jn = (j + 1) % n_seg
    idx = lambda k, jj: 1 + k * n_seg + jj  # noqa: E731
    faces = [torch.stack([torch.zeros_like(j), idx(0, jn), idx(0, j)], -1)]
    k = torch.arange(n_ring - 1)[:, None]
    a, b = idx(k, j), idx(k, jn)  # (n_ring-1, n_seg)
    c, d = idx(k + 1, j), idx(k + 1, jn)
    faces.append(torch.stack([a, b, c], -1).reshape(-1, 3))
    faces.append(torch.stack([b, d, c], -1).reshape(-1, 3))
    last = verts.shape[0] - 1
    faces.append(
        torch.stack([idx(n_ring - 1, j), idx(n_ring - 1, jn), torch.full_like(j, last)], -1)
    )
    prof_idx = torch.cat(
        [
            torch.zeros(1, dtype=torch.long),
            torch.arange(1, M - 1).repeat_interleave(n_seg),
            torch.full((1,), M - 1, dtype=torch.long),
        ]
    )
    return verts, torch.cat(faces), prof_idx


def _handle(
    n_along: int = 40, n_around: int = 14
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Closed tube swept along a C-shaped arc in the z = 0 plane, with capped ends.

    Returns verts (V, 3), faces (F, 3) oriented outward and the arc parameter of each vertex in
    [0, 1] (V,).
    """
    a_end = math.acos((_HANDLE_END_X - _HANDLE_CX) / _HANDLE_R)  # > 90 degrees
    theta = torch.linspace(a_end, -a_end, n_along, dtype=torch.float64)  # top end to bottom end
    psi = torch.arange(n_around, dtype=torch.float64) * (2 * math.pi / n_around)
    radial = torch.stack([torch.cos(theta), torch.sin(theta), torch.zeros_like(theta)], -1)
    centre = torch.tensor([_HANDLE_CX, _HANDLE_CY, 0.0], dtype=torch.float64) + _HANDLE_R * radial
    binormal = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    offs = (
        torch.cos(psi)[None, :, None] * radial[:, None] + torch.sin(psi)[None, :, None] * binormal
    )
    ring = (centre[:, None] + _TUBE_R * offs).reshape(-1, 3)  # (n_along * n_around, 3)
    verts = torch.cat([ring, centre[:1], centre[-1:]])
    j = torch.arange(n_around)
    jn = (j + 1) % n_around
    k = torch.arange(n_along - 1)[:, None]
    a, b = k * n_around + j, k * n_around + jn
    c, d = a + n_around, b + n_around
    first, last = n_along * n_around, n_along * n_around + 1
    faces = [
        torch.stack([a, b, c], -1).reshape(-1, 3),
        torch.stack([b, d, c], -1).reshape(-1, 3),
        torch.stack([torch.full_like(j, first), jn, j], -1),
        torch.stack(
            [torch.full_like(j, last), (n_along - 1) * n_around + j, (n_along - 1) * n_around + jn],
            -1,
        ),
    ]
    s = torch.linspace(0.0, 1.0, n_along, dtype=torch.float64)
    param = torch.cat([s.repeat_interleave(n_around), s.new_tensor([0.0, 1.0])])
    return verts, torch.cat(faces), param


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    k = (torch.tensor([5.0, 3.0, 1.0], dtype=h.dtype) + h[..., None] * 6.0) % 6.0
    ramp = torch.minimum(torch.minimum(k, 4.0 - k), torch.ones_like(k)).clamp(min=0.0)
    return v[..., None] * (1.0 - s[..., None] * ramp)


def _palette(seed: int) -> torch.Tensor:
    """(5, 3) colours: 3 stripe colours, the handle colour, the inside colour."""
    g = torch.Generator().manual_seed(int(seed))
    h0 = float(torch.rand((), generator=g, dtype=torch.float64))
    hues = (
        h0
        + torch.tensor([0.0, 0.33, 0.62, 0.15], dtype=torch.float64)
        + 0.05 * torch.rand(4, generator=g, dtype=torch.float64)
    ) % 1.0
    sat = torch.tensor([0.75, 0.65, 0.7, 0.8], dtype=torch.float64)
    val = torch.tensor([0.9, 0.8, 0.95, 0.85], dtype=torch.float64)
    cols = _hsv_to_rgb(hues, sat, val)
    inside = torch.tensor([[0.93, 0.9, 0.82]], dtype=torch.float64)
    return torch.cat([cols, inside])


def mug_mesh(seed: int = 0, device: str | torch.device = "cpu", inside: str = "plain"):
    """The built-in scene's mug as a one-mesh `Meshes` with `TexturesVertex` colours.

    Args:
        seed: selects the colour palette and the stripe pattern (the geometry is the same).
        device: where the mesh lives.
        inside: colouring of the inner wall and floor: "plain" (the cream palette entry 4, the
            built-in scene) or "textured" (a checker of palette entries 1 and 4: 12 sectors
            around, bands of 0.3 along the inner wall, rings on the floor), a variant that
            gives a photometric cue inside the opening (a diagnostic for surface methods).

    Returns:
        Meshes (batch of 1, float32): body (a closed surface of revolution) and handle (a closed
        capped tube) in one mesh, centred on its bounding box, farthest vertex at 0.9 from the
        origin, y up, handle towards +x.
    """
    from inverse3d.renderer.mesh.textures import TexturesVertex
    from inverse3d.structures.meshes import Meshes

    seed = check_nonneg_int(seed, "seed")
    inside = check_choice(inside, "inside", ("plain", "textured"))
    profile, label = _body_profile()
    n_seg = 72
    bv, bf, pidx = _revolve(profile, n_seg)
    hv, hf, hparam = _handle()

    pal = _palette(seed)
    g = torch.Generator().manual_seed(int(seed) + 1)
    n_bands = 5 + int(torch.randint(0, 3, (1,), generator=g))
    waves = 2 + int(torch.randint(0, 3, (1,), generator=g))
    phase = float(torch.rand((), generator=g)) * 2 * math.pi
    # Body: wavy horizontal stripes outside, a plain inside, stripe 0 colour on the base.
    part = label[pidx]
    phi = torch.atan2(-bv[:, 2], bv[:, 0])
    u = bv[:, 1] / _HEIGHT * n_bands + 0.35 * torch.sin(waves * phi + phase)
    band = torch.floor(u).long() % 3
    body_col = pal[band]
    body_col[part == 0] = pal[0]
    body_col[part == 2] = pal[4]
    body_col[part >= 3] = pal[4]
    if inside == "textured":
        # Checker inside: 12 sectors around, bands of 0.3 along the inner wall (profile length
        # from the rim down), rings of 0.3 on the floor; palette entries 1 and 4 alternate.
        sector = torch.floor((phi % (2 * math.pi)) / (2 * math.pi) * 12).long()
        radius = bv[:, [0, 2]].norm(dim=1)
        level = torch.where(part == 3, torch.floor((_HEIGHT - bv[:, 1]) / 0.3), 0.0)
        level = torch.where(part == 4, 7 + torch.floor((_R_IN - radius) / 0.3), level).long()
        checker = (sector + level) % 2 == 0
        sel = (part >= 3) & checker
        body_col[sel] = pal[1]
    # Handle: its own colour with a darker middle third.
    handle_col = pal[3].expand(hv.shape[0], 3).clone()
    mid = (hparam > 1 / 3) & (hparam < 2 / 3)
    handle_col[mid] = handle_col[mid] * 0.6

    verts = torch.cat([bv, hv])
    faces = torch.cat([bf, hf + bv.shape[0]])
    colors = torch.cat([body_col, handle_col]).clamp(0.0, 1.0)
    lo, hi = verts.min(0).values, verts.max(0).values
    verts = verts - (lo + hi) / 2
    verts = verts * (0.9 / verts.norm(dim=1).max())
    return Meshes(
        verts=[verts.float().to(device)],
        faces=[faces.to(device)],
        textures=TexturesVertex(verts_features=[colors.float().to(device)]),
    )


def mug_camera_angles(n_views: int = 40, n_test: int = 8) -> tuple[list, list, list[int]]:
    """Elevations and azimuths (degrees) of all n_views + n_test cameras and the test indices.

    Azimuths step evenly around 360 degrees, elevations follow a golden-ratio sequence in
    [10, 60] degrees; the held-out views are spread evenly among them (interleaved azimuths).
    """
    n = n_views + n_test
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    azim = [360.0 * i / n for i in range(n)]
    elev = [10.0 + 50.0 * ((0.5 + i * golden) % 1.0) for i in range(n)]
    test = sorted({int((j + 0.5) * n / n_test) for j in range(n_test)}) if n_test else []
    return elev, azim, test


def room_mesh(half: float = 3.5, n: int = 12, device: str | torch.device = "cpu"):
    """A closed box [-half, half]^3 (walls, floor, ceiling) seen from inside, `TexturesVertex`
    colours of smooth stripes that differ per wall: the surroundings of a capture."""
    from inverse3d.renderer.mesh.textures import TexturesVertex
    from inverse3d.structures.meshes import Meshes

    lin = torch.linspace(-half, half, n + 1)
    a, b = torch.meshgrid(lin, lin, indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    idx = torch.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    q0, q1, q2, q3 = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    quad = torch.stack([torch.stack([q0, q1, q2], -1), torch.stack([q0, q2, q3], -1)], -2)
    quad = quad.reshape(-1, 3)
    verts, faces, cols = [], [], []
    for k, (axis, sign) in enumerate([(a_, s_) for a_ in range(3) for s_ in (-1.0, 1.0)]):
        other = [i for i in range(3) if i != axis]
        v = torch.zeros(a.shape[0], 3)
        v[:, axis] = sign * half
        v[:, other[0]], v[:, other[1]] = a, b
        f = quad if sign > 0 else quad[:, [0, 2, 1]]
        phase = 0.9 * k
        c = torch.stack(
            [
                0.5 + 0.35 * torch.sin(1.7 * a + phase),
                0.5 + 0.35 * torch.sin(1.3 * b + 2 * phase),
                0.5 + 0.3 * torch.cos(0.9 * (a + b) + phase),
            ],
            -1,
        )
        faces.append(f + sum(x.shape[0] for x in verts))
        verts.append(v)
        cols.append(c)
    return Meshes(
        [torch.cat(verts).to(device)],
        [torch.cat(faces).to(device)],
        textures=TexturesVertex([torch.cat(cols).to(device)]),
    )


def make_synthetic_scene(
    n_views: int = 40,
    n_test: int = 8,
    image_size: int = 128,
    seed: int = 0,
    device: str | torch.device = "cpu",
    room: bool = False,
    distortion: tuple[float, ...] | None = None,
    inside: str = "plain",
) -> SceneData:
    """Render the built-in mug scene (deterministic per seed).

    Args:
        n_views: training views (train_idx).
        n_test: held-out views (test_idx), with azimuths interleaved among the training ones.
        image_size: H = W of the images.
        seed: palette and stripe pattern of the mug (see `mug_mesh`).
        device: where the returned tensors live.
        room: put the mug inside `room_mesh()` (an "object in a room" capture): no masks, no
            depths, the walls fill the background.
        distortion: OpenCV (k1, k2, k3, p1, p2) of the cameras, applied to the images (pixels
            resampled from a pinhole render) and returned in `SceneData.distortion`; use
            pincushion (k1 > 0) so that the pinhole render covers every distorted pixel. No
            depths then.

    Returns:
        SceneData with images (N, H, W, 3) float RGB composited on white, masks (N, H, W) float
        coverage in [0, 1], depths (N, H, W) float view-space z (mean over the covered
        sub-pixels, 0 where empty), cameras: NDC PerspectiveCameras (image_size set) identical in
        projection to the FoVPerspectiveCameras (fov 40 degrees, distance 2.9, looking at the
        origin) used to render, gt_mesh: `mug_mesh(seed)`. N = n_views + n_test.
    """
    from inverse3d.renderer.lighting import DirectionalLights
    from inverse3d.renderer.look_at import look_at_view_transform

    n_views = check_positive_int(n_views, "n_views")
    n_test = check_nonneg_int(n_test, "n_test")
    size = check_positive_int(image_size, "image_size")
    mesh = mug_mesh(seed, device=device, inside=inside)
    elev, azim, test_idx = mug_camera_angles(n_views, n_test)
    n = len(elev)
    R, T = look_at_view_transform(dist=_DIST, elev=elev, azim=azim, device=device)
    lights = DirectionalLights(
        direction=((0.35, 1.0, 0.55),),
        ambient_color=((0.45, 0.45, 0.45),),
        diffuse_color=((0.55, 0.55, 0.55),),
        specular_color=((0.0, 0.0, 0.0),),
        device=device,
    )
    scene_mesh = mesh
    if room:
        from inverse3d.structures.meshes import join_meshes_as_scene

        scene_mesh = join_meshes_as_scene([mesh, room_mesh(device=device)])
    images, masks, depths, cameras = _render_views(
        scene_mesh, R, T, _FOV, size, lights, _BACKGROUND, cull_backfaces=not room
    )  # every part is closed: back faces are never visible (the room is seen from inside)
    lens = None
    if distortion is not None:
        from inverse3d.renderer.lens_distortion import LensDistortion, undistort_points

        focal = 1.0 / math.tan(math.radians(_FOV) / 2.0)
        lens = LensDistortion("opencv", torch.tensor([list(distortion)] * n, dtype=torch.float32))
        g = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1  # pixel centres
        yy, xx = torch.meshgrid(g, g, indexing="ij")
        und = undistort_points(torch.stack([xx, yy], -1) / focal, "opencv", lens.coeffs[0])
        grid = (und * focal)[None].expand(n, size, size, 2).to(device)
        resample = lambda x: torch.nn.functional.grid_sample(  # noqa: E731
            x, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        images = resample(images.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).clamp(0.0, 1.0)
        masks = resample(masks[:, None])[:, 0]
        lens = lens.to(device)
    train_idx = [i for i in range(n) if i not in set(test_idx)]
    extra = {"background": _BACKGROUND} if not room else {}
    return SceneData(
        images=images,
        cameras=cameras,
        masks=None if room else masks,
        depths=None if (room or distortion is not None) else depths,
        distortion=lens,
        train_idx=train_idx,
        test_idx=test_idx,
        gt_mesh=mesh,
        name="mug",
        source="builtin",
        extra={
            "unit_frame": True,  # normalised to the unit sphere: no normalize_scene needed
            "seed": seed,
            "inside": inside,
            "elev": elev,
            "azim": azim,
            "dist": _DIST,
            "fov": _FOV,
            **extra,
        },
    )


def _render_views(mesh, R, T, fov: float, size: int, lights, background, cull_backfaces=True):
    """Hard Phong renders of `mesh` (TexturesVertex) from the cameras R, T (FoV `fov` degrees),
    2x2 supersampled: images (N, S, S, 3) on `background`, coverage masks (N, S, S), view-space
    depths (N, S, S) (mean over the covered sub-pixels, 0 where empty) and the NDC
    PerspectiveCameras identical in projection to the FoV cameras."""
    from inverse3d.renderer.blending import BlendParams
    from inverse3d.renderer.cameras import FoVPerspectiveCameras, PerspectiveCameras
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.renderer.mesh.renderer import MeshRendererWithFragments
    from inverse3d.renderer.mesh.shader import HardPhongShader

    device = R.device
    n = R.shape[0]
    fov_cams = FoVPerspectiveCameras(fov=fov, R=R, T=T, znear=0.1, zfar=10.0, device=device)
    ss = 2  # supersampling factor
    raster = RasterizationSettings(
        image_size=size * ss, faces_per_pixel=1, blur_radius=0.0, cull_backfaces=cull_backfaces
    )  # the mug's parts are closed: back faces are never visible
    shader = HardPhongShader(
        device=device,
        cameras=fov_cams,
        lights=lights,
        blend_params=BlendParams(background_color=tuple(background)),
    )
    renderer = MeshRendererWithFragments(MeshRasterizer(fov_cams, raster), shader)
    images, depths, masks = [], [], []
    chunk = 8
    with torch.no_grad():
        for s in range(0, n, chunk):
            cams = fov_cams[list(range(s, min(n, s + chunk)))]
            batch = mesh.extend(len(cams))
            rgba, frags = renderer(batch, cameras=cams)
            pool = lambda x: torch.nn.functional.avg_pool2d(x, ss)  # noqa: E731
            hit = (frags.pix_to_face[..., 0] >= 0).to(rgba.dtype)  # (B, 2H, 2W)
            z = frags.zbuf[..., 0].clamp(min=0.0) * hit
            cov = pool(hit[:, None])[:, 0]
            zmean = pool(z[:, None])[:, 0] / cov.clamp(min=1e-12)
            images.append(pool(rgba[..., :3].permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
            masks.append(cov)
            depths.append(torch.where(cov > 0, zmean, torch.zeros_like(zmean)))
    focal = 1.0 / math.tan(math.radians(fov) / 2.0)
    cameras = PerspectiveCameras(
        focal_length=torch.full((n, 1), focal, device=device),
        principal_point=torch.zeros(n, 2, device=device),
        R=R,
        T=T,
        image_size=torch.tensor([[size, size]] * n, device=device),
        device=device,
    )
    return torch.cat(images).clamp(0.0, 1.0), torch.cat(masks), torch.cat(depths), cameras


def rings_camera_angles(
    views_per_ring: int = 30, elevations: tuple[float, float] = (10.0, 40.0)
) -> tuple[list[float], list[float]]:
    """Elevations and azimuths (degrees) of the rings rig: for each elevation, `views_per_ring`
    azimuths stepping over half a turn (0 to 180 degrees, the last one short of 180)."""
    views_per_ring = check_positive_int(views_per_ring, "views_per_ring")
    elev, azim = [], []
    for e in elevations:
        for i in range(views_per_ring):
            elev.append(float(e))
            azim.append(180.0 * i / views_per_ring)
    return elev, azim


def make_rings_scene(
    mesh,
    image_size: int = 128,
    views_per_ring: int = 30,
    elevations: tuple[float, float] = (10.0, 40.0),
    test_every: int = 8,
    device: str | torch.device = "cpu",
) -> SceneData:
    """Render `mesh` with the rings rig: a white Lambertian object under one point light.

    The mesh is centred on its bounding box and scaled so that its farthest vertex is at 0.9
    from the origin (inside the unit sphere, which every camera sees whole). Two rings of
    `views_per_ring` cameras each (elevations `elevations`, azimuths over half a turn, distance
    3.2, field of view 40 degrees) look at the origin; the light is `RINGS_LIGHT` (a point light
    at (2, 3, 2), ambient 0.2, diffuse 0.8); the background is black.

    Args:
        mesh: Meshes (its first mesh is used; its textures are replaced by white).
        image_size: H = W of the images.
        views_per_ring: cameras per ring.
        elevations: the two rings' elevations in degrees.
        test_every: every `test_every`-th view (from the 4th on) is held out (0: none).
        device: where the returned tensors live.

    Returns:
        SceneData like `make_synthetic_scene`'s (images, masks, depths, NDC PerspectiveCameras,
        gt_mesh: the normalised white mesh), extra["unit_frame"] True.
    """
    from inverse3d.renderer.lighting import PointLights
    from inverse3d.renderer.look_at import look_at_view_transform
    from inverse3d.renderer.mesh.textures import TexturesVertex
    from inverse3d.structures.meshes import Meshes

    size = check_positive_int(image_size, "image_size")
    test_every = check_nonneg_int(test_every, "test_every")
    if not isinstance(mesh, Meshes) or len(mesh) < 1 or mesh.isempty():
        raise ValueError(f"mesh must be a non-empty Meshes; got {type(mesh).__name__}")
    if len(tuple(elevations)) != 2:
        raise ValueError(f"elevations must hold two angles; got {elevations!r}")
    verts = mesh.verts_list()[0].detach().to(device=device, dtype=torch.float32)
    faces = mesh.faces_list()[0].to(device)
    lo, hi = verts.min(0).values, verts.max(0).values
    verts = verts - (lo + hi) / 2
    verts = verts * (0.9 / verts.norm(dim=1).max().clamp(min=1e-12))
    white = Meshes([verts], [faces], textures=TexturesVertex([torch.ones_like(verts)]))
    elev, azim = rings_camera_angles(views_per_ring, tuple(elevations))
    n = len(elev)
    R, T = look_at_view_transform(dist=_RINGS_DIST, elev=elev, azim=azim, device=device)
    grey = lambda v: ((float(v),) * 3,)  # noqa: E731
    lights = PointLights(
        location=(RINGS_LIGHT["location"],),
        ambient_color=grey(RINGS_LIGHT["ambient"]),
        diffuse_color=grey(RINGS_LIGHT["diffuse"]),
        specular_color=grey(0.0),
        device=device,
    )
    background = (0.0, 0.0, 0.0)
    images, masks, depths, cameras = _render_views(
        white, R, T, _RINGS_FOV, size, lights, background, cull_backfaces=False
    )
    test_idx = [i for i in range(n) if test_every and i % test_every == test_every // 2]
    return SceneData(
        images=images,
        cameras=cameras,
        masks=masks,
        depths=depths,
        train_idx=[i for i in range(n) if i not in set(test_idx)],
        test_idx=test_idx,
        gt_mesh=white,
        name="rings",
        source="rings",
        extra={
            "unit_frame": True,
            "elev": elev,
            "azim": azim,
            "dist": _RINGS_DIST,
            "fov": _RINGS_FOV,
            "background": background,
            "light": dict(RINGS_LIGHT),
        },
    )
