"""SMPLify on synthetic bodies: MPJPE after fitting and fitting time per image.

    OMP_NUM_THREADS=2 PYTHONPATH=src python benchmarks/bm_smplify.py [--cases 100] [--device cpu]
        [--noise 2] [--single 3] [--seed 0]

Bodies: inverse3d.models.synthetic_body (metres; 1.72 m tall at mean shape), random pose and
shape, camera f = 1000 px, 512 x 512 images, body 4-6 m away, keypoints of the 24 joints with
Normal(0, noise) pixel noise (make_keypoint_cases). All cases are fitted in one batch (Adam is
per-parameter, so the fits are independent); --single cases are also fitted one by one for the
time per image. Prints one JSON object: mean / median MPJPE (root-aligned), PA-MPJPE, vertex
error (mm), reprojection error (px), batch time per image and single-image time.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from inverse3d.methods.smplify import SMPLifyConfig, body_errors, fit_body
from inverse3d.models.smpl import BodyModel
from inverse3d.models.synthetic_body import make_keypoint_cases, make_synthetic_body


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--noise", type=float, default=2.0)
    ap.add_argument("--single", type=int, default=3, help="cases also timed one at a time")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--penetration", type=float, default=0.0)
    ap.add_argument("--pose-scale", type=float, default=1.0, help="scales sample_body_poses")
    args = ap.parse_args()
    dev = torch.device(args.device)
    model = BodyModel(make_synthetic_body())
    cases = make_keypoint_cases(
        model,
        args.cases,
        torch.Generator().manual_seed(args.seed),
        noise_px=args.noise,
        pose_scale=args.pose_scale,
    )
    model = model.to(dev)
    cfg = SMPLifyConfig(penetration_weight=args.penetration)
    conf = torch.ones(args.cases, model.num_joints)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    res = fit_body(
        model,
        cases["keypoints"].to(dev),
        conf.to(dev),
        cases["focal"].to(dev),
        cases["principal"].to(dev),
        cfg,
    )
    sync()
    t_batch = time.perf_counter() - t0
    err = body_errors(res.joints.cpu(), cases["joints"], res.vertices.cpu(), cases["vertices"])
    single = []
    for i in range(min(args.single, args.cases)):
        sl = slice(i, i + 1)
        sync()
        t0 = time.perf_counter()
        fit_body(
            model,
            cases["keypoints"][sl].to(dev),
            conf[sl].to(dev),
            cases["focal"][sl].to(dev),
            cases["principal"][sl].to(dev),
            cfg,
        )
        sync()
        single.append(time.perf_counter() - t0)
    mm = {k: 1000 * v for k, v in err.items()}
    print(
        json.dumps(
            {
                "cases": args.cases,
                "noise_px": args.noise,
                "pose_scale": args.pose_scale,
                "device": str(dev),
                "mpjpe_mm_mean": round(float(mm["mpjpe"].mean()), 2),
                "mpjpe_mm_median": round(float(mm["mpjpe"].median()), 2),
                "pa_mpjpe_mm_mean": round(float(mm["pa_mpjpe"].mean()), 2),
                "v2v_mm_mean": round(float(mm["v2v"].mean()), 2),
                "mpjpe_mm_worst": round(float(mm["mpjpe"].max()), 2),
                "reprojection_px_mean": round(float(res.reprojection_error.mean()), 3),
                "batch_time_per_image_s": round(t_batch / args.cases, 4),
                "batch_time_s": round(t_batch, 2),
                "single_image_time_s": round(sum(single) / max(1, len(single)), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
