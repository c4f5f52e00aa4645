"""Method "diffeomorphic": 2-step run through the pipeline, a quality floor, no self-intersection
of its output, the no-mask stop, crops, shadings."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from inverse3d.datasets.synthetic import make_synthetic_scene
from inverse3d.engine import Loop
from inverse3d.eval.metrics import mask_iou
from inverse3d.methods import get_method
from inverse3d.methods.diffeomorphic import DiffeomorphicConfig, MeshLeftFrameError
from inverse3d.utils.ico_sphere import ico_sphere

TINY = dict(steps=2, flow_steps=4, sphere_level=1, hidden_dim=16, image_size=24, views_per_step=2)


@pytest.fixture(scope="module")
def tiny_scene():
    return make_synthetic_scene(n_views=6, n_test=2, image_size=32)


def fit(scene, **settings):
    torch.manual_seed(0)
    m = get_method("diffeomorphic")
    return m.fit(DiffeomorphicConfig(**settings), scene, Loop(progress=False))


# ----------------------------------------------------------------------------- intersections
def _segments_hit_triangles(p0, p1, tri, eps=1e-9):
    """(M,) bool: segment p0-p1 (M, 3) crosses triangle tri (M, 3, 3) (Moller-Trumbore)."""
    d = p1 - p0
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    h = torch.cross(d, e2, dim=-1)
    a = (e1 * h).sum(-1)
    ok = a.abs() > eps
    f = 1.0 / torch.where(ok, a, torch.ones_like(a))
    s = p0 - tri[:, 0]
    u = f * (s * h).sum(-1)
    q = torch.cross(s, e1, dim=-1)
    v = f * (d * q).sum(-1)
    t = f * (e2 * q).sum(-1)
    return ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t >= 0) & (t <= 1)


def intersecting_face_pairs(verts: torch.Tensor, faces: torch.Tensor) -> int:
    """Brute force: pairs of faces sharing no vertex where an edge of one crosses the other."""
    v = verts.double()
    nf = faces.shape[0]
    i, j = torch.triu_indices(nf, nf, offset=1)
    fi, fj = faces[i], faces[j]
    disjoint = ~(fi[:, :, None] == fj[:, None, :]).any(-1).any(-1)
    i, j = i[disjoint], j[disjoint]
    tri = v[faces]  # (F, 3, 3)
    hits = torch.zeros(len(i), dtype=torch.bool)
    for a, b in ((i, j), (j, i)):
        for k in range(3):
            p0, p1 = tri[a, k], tri[a, (k + 1) % 3]
            hits |= _segments_hit_triangles(p0, p1, tri[b])
    return int(hits.sum())


def test_intersection_checker_detects_a_fold():
    sphere = ico_sphere(2)
    v, f = sphere.verts_packed().clone(), sphere.faces_packed()
    assert intersecting_face_pairs(v, f) == 0
    v[0] = -1.5 * v[0]  # pull one vertex through the opposite side
    assert intersecting_face_pairs(v, f) > 0


# ----------------------------------------------------------------------------- runs
def test_two_step_run_through_the_pipeline(tmp_path):
    from inverse3d.datasets.folder import write_folder_scene
    from inverse3d.pipeline import RunContext, reconstruct, resolve_settings

    data = tmp_path / "tiny"
    write_folder_scene(make_synthetic_scene(n_views=4, n_test=2, image_size=24), data)
    run, cfg, m = resolve_settings(
        {"data": str(data), "device": "cpu", "eval_samples": 500, "method": "diffeomorphic"},
        {**TINY, "crop_ratio": 0.5},
    )
    ctx = RunContext()
    report = reconstruct(run, cfg, m, out=tmp_path, progress=False, context=ctx, log=lambda s: None)
    assert report["steps"] == 2
    assert json.loads((ctx.folder / "report.json").read_text())["settings"]["crop_ratio"] == 0.5
    assert (ctx.folder / "mesh.ply").is_file() and (ctx.folder / "field.pt").is_file()


def test_quality_floor_and_no_self_intersection(tiny_scene):
    """A short run clearly beats the starting sphere and its mesh does not self-intersect."""
    settings = dict(
        TINY,
        steps=40,
        flow_steps=8,
        sphere_level=2,
        hidden_dim=32,
        image_size=32,
        lr=2e-2,  # decays to 2e-3 (the default lr_final_ratio)
        views_per_step=3,
    )
    test = tiny_scene.test()
    start = fit(tiny_scene, **{**settings, "steps": 0})
    rec = fit(tiny_scene, **settings)
    iou0 = float(mask_iou(start.render(test.cameras)[..., 3], test.masks).mean())
    iou = float(mask_iou(rec.render(test.cameras)[..., 3], test.masks).mean())
    assert iou > 0.8 and iou > iou0 + 0.1, (iou0, iou)
    sil = [x["silhouette"] for x in rec.history]
    assert sum(sil[-5:]) < 0.6 * sum(sil[:5])
    verts = rec.mesh.verts_packed()
    assert (verts - start.mesh.verts_packed()).norm(dim=1).max() > 0.05  # it did deform
    assert intersecting_face_pairs(verts, rec.mesh.faces_packed()) == 0


def test_no_masks_mesh_leaving_the_frame_stops(tiny_scene):
    """Without masks, images of the empty background drive the mesh away: a clear stop."""
    empty = replace(tiny_scene, masks=None, depths=None, images=torch.ones_like(tiny_scene.images))
    with pytest.raises(MeshLeftFrameError, match="left the frame.*no masks"):
        fit(empty, **{**TINY, "steps": 200, "lr": 2e-2})


@pytest.mark.parametrize("shading", ["lambertian", "cook-torrance"])
def test_shadings_and_render(tiny_scene, shading):
    rec = fit(tiny_scene, **{**TINY, "shading": shading})
    out = rec.render(tiny_scene.test().cameras)
    assert out.shape == (2, 32, 32, 4) and torch.isfinite(out).all()
    assert len(rec.history) == 2 and all(
        torch.isfinite(torch.tensor(x["loss"])) for x in rec.history
    )


def test_crop_needs_perspective_cameras(tiny_scene):
    from inverse3d.common.errors import InputError
    from inverse3d.renderer.cameras import FoVPerspectiveCameras

    cams = FoVPerspectiveCameras(R=tiny_scene.cameras.R, T=tiny_scene.cameras.T)
    other = replace(tiny_scene, cameras=cams)
    with pytest.raises(InputError, match="crop-ratio"):
        fit(other, **{**TINY, "crop_ratio": 0.5})


class _SpyLoop(Loop):
    """A Loop that keeps the state the method hands it (to read the scheduler back)."""

    def run(self, step_fn, n_steps, state=None, desc=""):
        self.state = state
        return super().run(step_fn, n_steps, state, desc)


@pytest.mark.parametrize("ratio", [1.0, 0.1])
def test_learning_rates_decay_to_the_final_ratio_and_are_checkpointed(tiny_scene, ratio):
    """lr_final_ratio: after `steps` steps every group's rate is its start times the ratio, and the
    scheduler is part of the checkpointed state (so a resumed run continues the decay)."""
    torch.manual_seed(0)
    loop = _SpyLoop(progress=False)
    cfg = DiffeomorphicConfig(**{**TINY, "steps": 5, "lr": 2e-3, "lr_final_ratio": ratio})
    get_method("diffeomorphic").fit(cfg, tiny_scene, loop)
    sched = loop.state["scheduler"]
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    assert sched.get_last_lr() == pytest.approx([2e-3 * ratio, cfg.lr_albedo * ratio], rel=1e-6)
    assert loop.state["optimizer"] is sched.optimizer
