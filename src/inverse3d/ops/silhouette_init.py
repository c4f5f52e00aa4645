"""An object's box from its silhouettes, and the ico-sphere that starts a silhouette fit there.

Bounding boxes (`mask_bboxes`). Pixel (i, j) covers screen [j, j + 1) x [i, i + 1) (origin top
left, as `cameras.transform_points_screen`). A mask's box is [x0, x1) x [y0, y1) with x0 the
first and x1 - 1 the last column holding a pixel >= threshold (rows likewise): for masks that
hold a pixel's coverage (or are sampled at pixel centres) the silhouette's true edge lies within
half a pixel of those values.

Triangulation (`silhouette_planes`, `silhouette_box`). A box edge x = x0 seen by a perspective
camera is a plane through the camera centre that touches the object (every object point lies on
the side x >= x0). Each edge of every view gives one such plane, and the object model must touch
them all: for an axis-aligned box of centre c and half extents e, whose support function in the
plane's outward unit normal n is n . c + |n| . e (|n| component-wise), the equations are linear in
(c, e) and solved by least squares: the triangulation of the box centres and of their sizes in
one system, exact for a box up to the pixel rounding of the edges. The default model is the
axis-aligned ellipsoid (support n . c + sqrt(sum_k n_k^2 e_k^2)), fitted by Gauss-Newton from
the box's solution: it is the shape the fit then starts from, and it matches rounded objects
better than a box, which looks wider from its diagonals than from its faces. Edges that touch
the image border are not tangent (the object may continue outside) and are dropped; views with
an empty mask give nothing.

Moments (`silhouette_moments`, `silhouette_ellipsoid`). The box edges see only a silhouette's
extremes (a cow's legs and tail make its box much larger than its body), and an axis-aligned
model cannot lean. The moment-matched ellipsoid uses every pixel instead: each mask's centroid m
and second moment C (coverage-weighted, pixel (i, j) at (j + 1/2, i + 1/2)) are those of an
ellipse of shape matrix S = 4 C (a uniform ellipse of semi-axes a, b has variances a^2/4, b^2/4).
An ellipsoid {x: (x - c)^T A^-1 (x - c) <= 1} projects, under the camera's projection linearised
at c (the 2 x 3 screen Jacobian J), to the ellipse of centre proj(c) and shape J A J^T. So c is
triangulated from the centroids (linear least squares on the lines through each camera and its
centroid) and the six entries of the symmetric A from the 3 equations J A J^T = S of each view
(linear least squares); A's eigenvectors give the axes (any orientation) and the square roots of
its eigenvalues (clamped > 0) the semi-axes. Exact for an ellipsoid seen by orthographic cameras,
approximate under perspective. For given second moments the ellipse has the largest area, so the
moment ellipsoid of a non-elliptic object covers more than its silhouettes; the axes are then
scaled by one factor so that the ellipsoid's rendered silhouettes (`render_mesh_silhouettes`,
hard, 2 x 2 supersampled) have the masks' total area (two fixed-point iterations of
k <- k sqrt(mask area / rendered area)), which also absorbs the perspective error of the size.
Views whose silhouette is empty or touches the image border (truncated moments) are dropped.

Level (`silhouette_sphere_level`). An ico-sphere of level L has about 6 * 2^L edges around its
equator. The silhouettes' detail is measured by their perimeter P in pixels (median over views,
counted as foreground pixels with a background 4-neighbour): a long perimeter means a large
or intricate outline. L is the level whose equator has one edge per `pixels_per_edge` pixels of
P: L = round(log2(P / (6 pixels_per_edge))), clamped to [min_level, max_level].

Windows (`silhouette_windows`). A small object covers few pixels of its images; fitting it in a
square window around its silhouette, rendered at the fitting resolution, gives it as many pixels
as a centred large one (`renderer.crop.crop_cameras` turns the windows into cameras). One side
for all views (the largest box side times 1 + 2 margin, plus 2 pixels each way), each window
centred on its view's box and shifted to lie inside the image; the side is capped at the image's
shorter side (no crop then).
"""

from __future__ import annotations

import math

import torch

from inverse3d._validation import (
    check_choice,
    check_nonneg_int,
    check_positive_float,
    check_tensor,
)

__all__ = [
    "mask_bboxes",
    "silhouette_box",
    "silhouette_ellipsoid",
    "silhouette_moments",
    "silhouette_planes",
    "silhouette_perimeters",
    "silhouette_sphere",
    "silhouette_sphere_level",
    "silhouette_windows",
    "square_windows",
]


def mask_bboxes(masks: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Screen-space bounding boxes of the foreground of each mask.

    masks: (N, H, W) float (or bool), foreground where >= threshold.
    Returns: boxes (N, 4) float (x0, y0, x1, y1) in pixels (see the module docstring; zeros for
    an empty mask) and valid (N,) bool (False for an empty mask).
    """
    masks = check_tensor(masks, "masks", ("N", "H", "W"), ("float", "bool"))
    fg = masks.float() >= float(threshold)
    n, h, w = fg.shape
    cols = fg.any(dim=1)  # (N, W)
    rows = fg.any(dim=2)  # (N, H)
    valid = cols.any(dim=1)
    jj = torch.arange(w, device=fg.device)
    ii = torch.arange(h, device=fg.device)
    x0 = torch.where(cols, jj, w).min(dim=1).values
    x1 = torch.where(cols, jj, -1).max(dim=1).values + 1
    y0 = torch.where(rows, ii, h).min(dim=1).values
    y1 = torch.where(rows, ii, -1).max(dim=1).values + 1
    boxes = torch.stack([x0, y0, x1, y1], dim=1).float()
    return torch.where(valid[:, None], boxes, torch.zeros_like(boxes)), valid


def _screen_matrix(cameras, image_size: tuple[int, int]) -> torch.Tensor:
    """(N, 4, 4) float64 row-vector matrix of world -> homogeneous screen (x w, y w, ., w)."""
    from inverse3d.renderer.cameras import get_ndc_to_screen_transform

    full = cameras.get_full_projection_transform().compose(cameras.get_ndc_camera_transform())
    to_screen = get_ndc_to_screen_transform(cameras, with_xyflip=True, image_size=(image_size,))
    m = full.compose(to_screen).get_matrix().double()
    if m.shape[0] != len(cameras):
        m = m.expand(len(cameras), 4, 4)
    return m


def silhouette_planes(
    cameras, masks: torch.Tensor, threshold: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """The planes through each camera centre and each edge of its mask's bounding box.

    cameras: a batch of N perspective cameras (any `CamerasBase`), one per mask.
    masks: (N, H, W) float (or bool) foreground masks, 1 = object.
    threshold: masks are foreground where >= threshold.
    Returns: normals (M, 3) float64 unit outward normals and offsets (M,) float64, on the CPU:
    every object point x satisfies normals . x <= offsets, with equality where the plane touches
    the object. Edges on the image border and empty masks give no plane.
    """
    masks = check_tensor(masks, "masks", ("N", "H", "W"), ("float", "bool"))
    if not hasattr(cameras, "get_full_projection_transform") or not hasattr(cameras, "__len__"):
        raise TypeError(f"cameras must be a CamerasBase batch; got {type(cameras).__name__}")
    n, h, w = masks.shape
    if len(cameras) != n:
        raise ValueError(f"cameras must hold one camera per mask (N={n}); got {len(cameras)}")
    if not bool(cameras.is_perspective()):
        raise ValueError("cameras must be perspective cameras (silhouette_planes)")
    boxes, valid = mask_bboxes(masks, threshold)
    boxes = boxes.double().cpu()
    m = _screen_matrix(cameras, (h, w)).cpu()  # (N, 4, 4)
    px, py, pw = m[:, :, 0], m[:, :, 1], m[:, :, 3]  # (N, 4): x_s = X~ . px / X~ . pw
    # A point in front of each camera (on its optical axis) fixes the sign of w.
    centres = cameras.get_camera_center().detach().double().cpu()  # (N, 3)
    w2v = cameras.get_world_to_view_transform().get_matrix().detach().double().cpu()
    fwd = w2v[:, :3, 2] / w2v[:, :3, 2].norm(dim=-1, keepdim=True)
    q = torch.cat([centres + fwd, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    s = torch.sign((q * pw).sum(1))  # (N,)
    normals, offsets = [], []
    for v in range(n):
        if not bool(valid[v]):
            continue
        x0, y0, x1, y1 = boxes[v].tolist()
        # (plane g whose inside is s g . X~ >= 0, usable)
        edges = [
            (px[v] - x0 * pw[v], x0 > 0),
            (x1 * pw[v] - px[v], x1 < w),
            (py[v] - y0 * pw[v], y0 > 0),
            (y1 * pw[v] - py[v], y1 < h),
        ]
        for g, ok in edges:
            if not ok:
                continue
            g = g * s[v]
            normal = -g[:3]  # outward: n . X <= g[3] for every object point
            norm = float(normal.norm())
            if norm == 0.0:
                continue
            normals.append(normal / norm)
            offsets.append(g[3] / norm)
    if len(normals) < 6:
        raise ValueError(
            f"masks: need at least 6 box edges inside the images to place the object; got "
            f"{len(normals)} (empty masks or silhouettes touching the image borders)"
        )
    return torch.stack(normals), torch.stack(offsets)


def _solve_box(normals: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """(6,) float64 (centre, half extents) of the box model, by linear least squares."""
    a = torch.cat([normals, normals.abs()], dim=1)  # (M, 6)
    ata = a.T @ a
    evals = torch.linalg.eigvalsh(ata)
    if float(evals[0]) < 1e-9 * float(evals[-1]):
        raise ValueError(
            "cameras: the views do not fix the object's box (they look from too few directions)"
        )
    sol = torch.linalg.solve(ata, a.T @ offsets)
    sol[3:] = sol[3:].clamp(min=1e-9)
    return sol


def silhouette_box(
    cameras, masks: torch.Tensor, threshold: float = 0.5, shape: str = "ellipsoid"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre and half extents of the axis-aligned box or ellipsoid that explains the masks.

    The planes of `silhouette_planes` must touch the model: for a box of centre c and half
    extents e, n . c + |n| . e = offset (linear least squares); for the ellipsoid of semi-axes e,
    n . c + sqrt(sum_k n_k^2 e_k^2) = offset (Gauss-Newton from the box's solution). The box
    model is exact for boxes; the ellipsoid's for ellipsoids, and it fits rounded objects (a
    cylinder seen from the side has the same width from every azimuth, as an ellipsoid, while a
    box is wider from its diagonals) far better.

    cameras: a batch of N perspective cameras (any `CamerasBase`), one per mask.
    masks: (N, H, W) float (or bool) foreground masks, 1 = object.
    threshold: masks are foreground where >= threshold.
    shape: "ellipsoid" or "box".
    Returns: centre (3,) float32 and half_extent (3,) float32 (> 0) in world units, on the
    masks' device; the model's bounding box is centre +- half_extent.
    Raises ValueError when fewer than six box edges are usable (empty masks, boxes that touch
    the image borders) or when the views cannot fix the box (all from one direction).
    """
    check_choice(shape, "shape", ("ellipsoid", "box"))
    normals, offsets = silhouette_planes(cameras, masks, threshold)
    sol = _solve_box(normals, offsets)
    if shape == "ellipsoid":
        sol = _solve_ellipsoid(normals, offsets, sol)
    return sol[:3].float().to(masks.device), sol[3:].float().to(masks.device)


def _solve_ellipsoid(normals: torch.Tensor, offsets: torch.Tensor, x0: torch.Tensor):
    """Levenberg-Marquardt on the ellipsoid's tangency residuals from x0 = (c, e). (6,)."""
    n2 = normals**2

    def residual(x):
        s = torch.sqrt((n2 * x[3:] ** 2).sum(1) + 1e-18)
        return normals @ x[:3] + s - offsets, s

    x = x0.clone()
    r, s = residual(x)
    lam = 1e-3
    for _ in range(50):
        jac = torch.cat([normals, n2 * x[3:] / s[:, None]], dim=1)  # (M, 6)
        jtj = jac.T @ jac
        step = torch.linalg.solve(jtj + lam * torch.diag(jtj.diagonal() + 1e-12), jac.T @ r)
        cand = x - step
        cand[3:] = cand[3:].clamp(min=1e-9)
        r_new, s_new = residual(cand)
        if float((r_new**2).sum()) < float((r**2).sum()):
            x, r, s, lam = cand, r_new, s_new, lam * 0.3
            if float(step.abs().max()) < 1e-12:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break
    return x


def silhouette_moments(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Area, centroid and second central moments of each mask's foreground (see the module
    docstring); the mask values, clamped to [0, 1], are the pixels' coverage.

    masks: (N, H, W) float (or bool).
    Returns: areas (N,) float64 in pixels, centroids (N, 2) float64 (x, y) in screen pixels, and
    covariances (N, 2, 2) float64 in pixels^2 (zeros, and centroid 0, for an empty mask).
    """
    masks = check_tensor(masks, "masks", ("N", "H", "W"), ("float", "bool"))
    m = masks.double().clamp(0.0, 1.0)
    n, h, w = m.shape
    xs = torch.arange(w, dtype=torch.float64, device=m.device) + 0.5
    ys = torch.arange(h, dtype=torch.float64, device=m.device) + 0.5
    area = m.sum(dim=(1, 2))
    safe = area.clamp(min=1e-12)
    mx = (m.sum(dim=1) * xs).sum(dim=1) / safe
    my = (m.sum(dim=2) * ys).sum(dim=1) / safe
    dx = xs[None, None, :] - mx[:, None, None]
    dy = ys[None, :, None] - my[:, None, None]
    cxx = (m * dx * dx).sum(dim=(1, 2)) / safe
    cyy = (m * dy * dy).sum(dim=(1, 2)) / safe
    cxy = (m * dx * dy).sum(dim=(1, 2)) / safe
    cov = torch.stack([torch.stack([cxx, cxy], -1), torch.stack([cxy, cyy], -1)], -2)
    return area, torch.stack([mx, my], dim=-1), cov


def silhouette_ellipsoid(
    cameras, masks: torch.Tensor, threshold: float = 0.5, match_area: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ellipsoid whose projections have the masks' centroids and second moments (any
    orientation), scaled to the masks' area (see the module docstring).

    cameras: a batch of N cameras (any `CamerasBase`; exact for orthographic ones), one per mask.
    masks: (N, H, W) float (or bool) foreground masks, 1 = object (values: pixel coverage).
    threshold: a view is dropped when no pixel is >= threshold or one on the image border is.
    match_area: scale the axes so that the rendered silhouettes have the masks' total area.
    Returns: centre (3,) float32 and axes (3, 3) float32, the semi-axis vectors as columns
    (the ellipsoid is centre + axes @ u for unit vectors u), on the masks' device.
    Raises ValueError when fewer than two views are usable or they do not fix the ellipsoid.
    """
    from inverse3d.renderer.mesh.render_views import render_mesh_silhouettes
    from inverse3d.structures.meshes import Meshes
    from inverse3d.utils.ico_sphere import ico_sphere

    masks = check_tensor(masks, "masks", ("N", "H", "W"), ("float", "bool"))
    if not hasattr(cameras, "get_full_projection_transform") or not hasattr(cameras, "__len__"):
        raise TypeError(f"cameras must be a CamerasBase batch; got {type(cameras).__name__}")
    n, h, w = masks.shape
    if len(cameras) != n:
        raise ValueError(f"cameras must hold one camera per mask (N={n}); got {len(cameras)}")
    fg = masks.float() >= float(threshold)
    border = fg[:, 0].any(1) | fg[:, -1].any(1) | fg[:, :, 0].any(1) | fg[:, :, -1].any(1)
    use = (fg.flatten(1).any(1) & ~border).cpu()
    if int(use.sum()) < 2:
        raise ValueError(
            f"masks: need at least 2 non-empty silhouettes inside the images to place the "
            f"object; got {int(use.sum())}"
        )
    _, cen, cov = silhouette_moments(masks)
    cen, cov = cen.cpu(), cov.cpu()
    m = _screen_matrix(cameras, (h, w)).cpu()
    px, py, pw = m[:, :, 0], m[:, :, 1], m[:, :, 3]
    views = torch.nonzero(use).flatten().tolist()
    # centre: on each view's lines x_s = m_x and y_s = m_y (planes through the camera)
    rows = []
    for v in views:
        rows.append(px[v] - cen[v, 0] * pw[v])
        rows.append(py[v] - cen[v, 1] * pw[v])
    g = torch.stack(rows)
    g = g / g[:, :3].norm(dim=1, keepdim=True).clamp(min=1e-300)
    ata = g[:, :3].T @ g[:, :3]
    evals = torch.linalg.eigvalsh(ata)
    if float(evals[0]) < 1e-9 * float(evals[-1]):
        raise ValueError("cameras: the views do not fix the object's centre (one direction)")
    centre = torch.linalg.solve(ata, -(g[:, :3].T @ g[:, 3]))
    # shape: J A J^T = 4 C per view, linear in A's six entries
    ch = torch.cat([centre, centre.new_ones(1)])
    pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
    a_rows, b = [], []
    for v in views:
        wv = ch @ pw[v]
        jac = torch.stack(
            [(p[v][:3] * wv - pw[v][:3] * (ch @ p[v])) / wv**2 for p in (px, py)]
        )  # (2, 3)
        for r, c in ((0, 0), (1, 1), (0, 1)):
            coef = [
                jac[r, k] * jac[c, k] if k == q else jac[r, k] * jac[c, q] + jac[r, q] * jac[c, k]
                for k, q in pairs
            ]
            a_rows.append(torch.stack(coef))
            b.append(4.0 * cov[v, r, c])
    a_mat = torch.stack(a_rows)
    ata = a_mat.T @ a_mat
    evals = torch.linalg.eigvalsh(ata)
    if float(evals[0]) < 1e-9 * float(evals[-1]):
        raise ValueError("cameras: the views do not fix the object's shape (too few directions)")
    sol = torch.linalg.solve(ata, a_mat.T @ torch.stack(b))
    shape = torch.zeros(3, 3, dtype=torch.float64)
    for val, (k, q) in zip(sol, pairs):
        shape[k, q] = shape[q, k] = val
    lam, vecs = torch.linalg.eigh(shape)
    lam = lam.clamp(min=1e-8 * float(lam.abs().max().clamp(min=1e-300)))
    axes = (vecs * lam.sqrt()).float().to(masks.device)
    centre = centre.float().to(masks.device)
    if match_area:
        sphere = ico_sphere(3, device=masks.device)
        target = masks[use.to(masks.device)].float().clamp(0.0, 1.0).sum()
        sub = cameras[views]
        for _ in range(2):
            mesh = Meshes([sphere.verts_packed() @ axes.T + centre], [sphere.faces_packed()])
            area = render_mesh_silhouettes(mesh, sub, (h, w), supersample=2).sum()
            if float(area) <= 0:
                break
            axes = axes * float((target / area).sqrt())
    return centre, axes


def silhouette_perimeters(masks: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Perimeter of each mask's foreground in pixels.

    masks: (N, H, W) float (or bool), foreground where >= threshold.
    Returns: (N,) float: the number of foreground pixels with a background (or out-of-image)
    4-neighbour.
    """
    masks = check_tensor(masks, "masks", ("N", "H", "W"), ("float", "bool"))
    fg = (masks.float() >= float(threshold)).float()[:, None]  # (N, 1, H, W)
    # Erosion by the 4-neighbourhood: a pixel stays when it and its 4 neighbours are foreground.
    pad = torch.nn.functional.pad(fg, (1, 1, 1, 1))
    inner = (
        pad[..., 1:-1, 1:-1]
        * pad[..., :-2, 1:-1]
        * pad[..., 2:, 1:-1]
        * pad[..., 1:-1, :-2]
        * pad[..., 1:-1, 2:]
    )
    return (fg - inner).flatten(1).sum(1)


def silhouette_sphere_level(
    masks: torch.Tensor,
    pixels_per_edge: float = 3.0,
    min_level: int = 1,
    max_level: int = 5,
    threshold: float = 0.5,
) -> int:
    """Ico-sphere level for fitting these silhouettes (see the module docstring).

    masks: (N, H, W) float (or bool) foreground masks.
    pixels_per_edge: > 0, silhouette pixels per mesh edge wanted.
    min_level, max_level: the range of levels returned (max_level >= min_level >= 0).
    Returns: an int in [min_level, max_level].
    """
    pixels_per_edge = check_positive_float(pixels_per_edge, "pixels_per_edge")
    min_level = check_nonneg_int(min_level, "min_level")
    max_level = check_nonneg_int(max_level, "max_level")
    if max_level < min_level:
        raise ValueError(f"max_level must be >= min_level ({min_level}); got {max_level}")
    per = silhouette_perimeters(masks, threshold)
    per = per[per > 0]
    if per.numel() == 0:
        return min_level
    p = float(per.median())
    level = round(math.log2(max(p / (6.0 * pixels_per_edge), 1e-9)))
    return int(min(max(level, min_level), max_level))


def silhouette_sphere(
    cameras,
    masks: torch.Tensor,
    level: int | None = None,
    threshold: float = 0.5,
    min_extent: float = 1e-3,
    fit: str = "moments",
) -> tuple[torch.Tensor, torch.Tensor]:
    """An ico-sphere mapped onto the ellipsoid that explains the masks.

    fit "moments": `silhouette_ellipsoid` (centre + axes @ sphere, any orientation); "box":
    `silhouette_box`'s axis-aligned ellipsoid tangent to the bounding boxes (sphere * e + c).
    cameras, masks, threshold: as `silhouette_box`.
    level: ico-sphere level, or None for `silhouette_sphere_level(masks)`.
    min_extent: > 0, the smallest semi-axis (world units).
    Returns: verts (V, 3) float32 and faces (F, 3) int64 on the masks' device.
    """
    from inverse3d.utils.ico_sphere import ico_sphere

    min_extent = check_positive_float(min_extent, "min_extent")
    check_choice(fit, "fit", ("moments", "box"))
    if level is None:
        level = silhouette_sphere_level(masks, threshold=threshold)
    level = check_nonneg_int(level, "level")
    sphere = ico_sphere(level, device=masks.device)
    if fit == "box":
        centre, half = silhouette_box(cameras, masks, threshold)
        verts = sphere.verts_packed() * half.clamp(min=min_extent) + centre
        return verts, sphere.faces_packed()
    centre, axes = silhouette_ellipsoid(cameras, masks, threshold)
    lengths = axes.norm(dim=0, keepdim=True)
    axes = axes * (lengths.clamp(min=min_extent) / lengths.clamp(min=1e-30))
    return sphere.verts_packed() @ axes.T + centre, sphere.faces_packed()


def square_windows(
    boxes: torch.Tensor, image_size: tuple[int, int], margin: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Square windows of one side around boxes, inside the image (see the module docstring).

    boxes: (N, 4) float (x0, y0, x1, y1) pixels, as `mask_bboxes` (x1, y1 exclusive).
    image_size: (H, W) positive ints.
    margin: >= 0, space left on each side of the largest box, as a fraction of its side.
    Returns: tops (N,) long, lefts (N,) long (the windows' top-left pixels) and side (int, at
    most min(H, W)); every window lies inside its image.
    """
    boxes = check_tensor(boxes, "boxes", ("N", 4), "float")
    if boxes.shape[0] == 0:
        raise ValueError("boxes must hold at least one box; got N = 0")
    if len(image_size) != 2 or any(not isinstance(s, int) or s < 1 for s in image_size):
        raise ValueError(f"image_size must be two positive ints (H, W); got {image_size!r}")
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not margin >= 0:
        raise ValueError(f"margin must be a number >= 0; got {margin!r}")
    h, w = image_size
    sides = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    side = int(math.ceil(float(sides.max()) * (1.0 + 2.0 * float(margin)))) + 4
    side = max(1, min(side, h, w))
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    lefts = torch.round(cx - side / 2).long().clamp(0, w - side)
    tops = torch.round(cy - side / 2).long().clamp(0, h - side)
    return tops, lefts, side


def silhouette_windows(
    masks: torch.Tensor, margin: float = 0.25, threshold: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """`square_windows` around each mask's foreground box (an empty mask's box: the image).

    masks: (N, H, W) float (or bool) foreground masks, 1 = object.
    margin: >= 0, as `square_windows`. threshold: masks are foreground where >= threshold.
    Returns: tops (N,) long, lefts (N,) long, side (int).
    """
    masks = check_tensor(masks, "masks", ("N", "H", "W"), ("float", "bool"))
    n, h, w = masks.shape
    boxes, valid = mask_bboxes(masks, threshold)
    whole = torch.tensor([0.0, 0.0, float(w), float(h)], device=boxes.device)
    boxes = torch.where(valid[:, None], boxes, whole)
    return square_windows(boxes, (h, w), margin)
