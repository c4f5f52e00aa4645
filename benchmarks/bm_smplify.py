"""SMPLify on synthetic bodies: 3D errors after fitting, where they come from, fitting time.

    OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/bm_smplify.py [--cases 100] [--device cpu]
        [--noise 2] [--single 3] [--seed 0] [--prior simple|synthetic] [--fixed-scale]
        [--flip-steps 100] [--starts 4] [--per-joint]

Bodies: inverse3d.models.synthetic_body (metres; 1.72 m tall at mean shape), random pose and
shape, camera f = 1000 px, 512 x 512 images, body 4-6 m away, keypoints of the 24 joints with
Normal(0, noise) pixel noise (make_keypoint_cases; --fixed-scale: shape 0, a uniform scale, set
to 0). --prior synthetic fits with the sampler's own distribution as the pose prior
(synthetic_pose_prior, through the GMM path); simple: the documented default prior. All cases are
fitted in one batch (Adam is per-parameter, so the fits are independent); --single cases are
also fitted one by one for the time per image.

Prints one JSON object (millimetres): MPJPE root-aligned (the standard), with translation (camera
frame), scale-aligned (N-MPJPE) and Procrustes-aligned (PA), vertex error, the split of the
error (root translation / depth error, global orientation error, root-relative error in the
body's own frame with the true orientation), reprojection error, times; --per-joint adds the
root-aligned error of every joint.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from inverse3d.loss.body_fitting import GaussianMixturePrior
from inverse3d.methods.smplify import SMPLifyConfig, body_errors, fit_body
from inverse3d.models.smpl import BodyModel
from inverse3d.models.synthetic_body import (
    make_keypoint_cases,
    make_synthetic_body,
    synthetic_pose_prior,
)
from inverse3d.transforms.rotation_conversions import axis_angle_to_matrix


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--noise", type=float, default=2.0)
    ap.add_argument("--single", type=int, default=3, help="cases also timed one at a time")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--penetration", type=float, default=0.0)
    ap.add_argument("--pose-scale", type=float, default=1.0, help="scales sample_body_poses")
    ap.add_argument("--prior", choices=("simple", "synthetic"), default="simple")
    ap.add_argument("--fixed-scale", action="store_true", help="betas[:, 0] = 0 in the cases")
    ap.add_argument("--flip-steps", type=int, default=SMPLifyConfig.flip_steps)
    ap.add_argument("--starts", type=int, default=SMPLifyConfig.starts)
    ap.add_argument("--per-joint", action="store_true")
    args = ap.parse_args()
    dev = torch.device(args.device)
    model = BodyModel(make_synthetic_body())
    cases = make_keypoint_cases(
        model,
        args.cases,
        torch.Generator().manual_seed(args.seed),
        noise_px=args.noise,
        pose_scale=args.pose_scale,
        fixed_scale=args.fixed_scale,
    )
    model = model.to(dev)
    cfg = SMPLifyConfig(
        penetration_weight=args.penetration, flip_steps=args.flip_steps, starts=args.starts
    )
    gmm = None
    if args.prior == "synthetic":
        g = {k: torch.as_tensor(v) for k, v in synthetic_pose_prior().items()}
        gmm = GaussianMixturePrior(g["means"], g["covars"], g["weights"]).to(dev)
    conf = torch.ones(args.cases, model.num_joints)
    inputs = [cases[k] for k in ("keypoints",)] + [conf, cases["focal"], cases["principal"]]

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def fit(sl: slice):
        return fit_body(model, *[x[sl].to(dev) for x in inputs], cfg, gmm=gmm)

    sync()
    t0 = time.perf_counter()
    res = fit(slice(None))
    sync()
    t_batch = time.perf_counter() - t0
    joints, true = res.joints.cpu(), cases["joints"]
    err = body_errors(joints, true, res.vertices.cpu(), cases["vertices"])
    single = []
    for i in range(min(args.single, args.cases)):
        sync()
        t0 = time.perf_counter()
        fit(slice(i, i + 1))
        sync()
        single.append(time.perf_counter() - t0)
    # where the error comes from
    R = axis_angle_to_matrix(res.pose[:, 0].cpu())
    Rt = axis_angle_to_matrix(cases["pose"][:, 0])
    cos = ((R.transpose(1, 2) @ Rt).diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2
    orient_deg = torch.rad2deg(torch.acos(cos.clamp(-1, 1)))
    rel = torch.einsum("nji,nkj->nki", R, joints - joints[:, :1])  # body frame: R^T x
    rel_t = torch.einsum("nji,nkj->nki", Rt, true - true[:, :1])
    body_frame = (rel - rel_t).norm(dim=-1).mean(-1)
    root = (joints[:, 0] - true[:, 0]).norm(dim=-1)
    depth = (joints[:, 0, 2] - true[:, 0, 2]).abs()
    mm = {k: 1000 * v for k, v in err.items()}

    def r(x: torch.Tensor) -> float:
        return round(float(x), 1)

    report = {
        "cases": args.cases,
        "noise_px": args.noise,
        "pose_scale": args.pose_scale,
        "prior": args.prior,
        "fixed_scale": args.fixed_scale,
        "flip_steps": args.flip_steps,
        "starts": args.starts,
        "device": str(dev),
        "mpjpe_mm_mean": r(mm["mpjpe"].mean()),
        "mpjpe_mm_median": r(mm["mpjpe"].median()),
        "mpjpe_mm_worst": r(mm["mpjpe"].max()),
        "mpjpe_with_translation_mm_mean": r(mm["mpjpe_abs"].mean()),
        "mpjpe_scale_aligned_mm_mean": r(mm["mpjpe_scaled"].mean()),
        "pa_mpjpe_mm_mean": r(mm["pa_mpjpe"].mean()),
        "v2v_mm_mean": r(mm["v2v"].mean()),
        "root_translation_error_mm_mean": r(1000 * root.mean()),
        "root_depth_error_mm_mean": r(1000 * depth.mean()),
        "orientation_error_deg_mean": r(orient_deg.mean()),
        "orientation_error_deg_median": r(orient_deg.median()),
        "body_frame_error_mm_mean": r(1000 * body_frame.mean()),
        "cases_over_100mm": int((mm["mpjpe"] > 100).sum()),
        "reprojection_px_mean": round(float(res.reprojection_error.mean()), 3),
        "batch_time_per_image_s": round(t_batch / args.cases, 4),
        "batch_time_s": round(t_batch, 2),
        "single_image_time_s": round(sum(single) / max(1, len(single)), 3),
    }
    if args.per_joint:
        per = 1000 * ((joints - joints[:, :1]) - (true - true[:, :1])).norm(dim=-1).mean(0)
        report["per_joint_mpjpe_mm"] = {n: r(per[j]) for j, n in enumerate(model.joint_names)}
    assert math.isfinite(report["mpjpe_mm_mean"])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
