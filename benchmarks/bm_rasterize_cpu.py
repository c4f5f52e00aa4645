"""CPU benchmark of the mesh rasterizer (issue 3 targets, 2-core CPU).

Workloads:
  soft: 8 x ico_sphere(4) (5120 faces each), 256x256, faces_per_pixel=50, soft silhouette
        (blur_radius = log(1/1e-4 - 1) * 1e-4), forward + backward w.r.t. the vertices.
        Target <= 2 s and peak memory <= 2 GB.
  hard: 1 x ico_sphere(6) (81920 faces), 512x512, faces_per_pixel=1, HardPhongShader forward.
        Target <= 1 s.

Each workload runs in its own subprocess so that its peak resident memory (ru_maxrss) is its own;
the figure includes the Python interpreter and torch (about 0.3 GB), reported separately.
The process CPU time (all threads) is reported next to the wall time: on a shared, loaded machine
the wall time of a multi-threaded run says little (a descheduled OpenMP thread stalls the other),
while a --threads 1 run's CPU time is close to its wall time on an idle core.
Usage: python benchmarks/bm_rasterize_cpu.py [--repeats 3] [--threads 2] [--only soft|hard]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time

from _timing import peak_rss_mb


def run_workload(name: str, repeats: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from inverse3d.renderer.blending import BlendParams
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.look_at import look_at_view_transform
    from inverse3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from inverse3d.renderer.mesh.renderer import MeshRenderer
    from inverse3d.renderer.mesh.shader import HardPhongShader, SoftSilhouetteShader
    from inverse3d.renderer.mesh.textures import TexturesVertex
    from inverse3d.utils.ico_sphere import ico_sphere

    base_rss = peak_rss_mb()
    times, raster_times, cpu_times = [], [], []
    if name == "soft":
        meshes = ico_sphere(4).extend(8)
        R, T = look_at_view_transform(2.7, torch.linspace(0, 60, 8), torch.linspace(0, 300, 8))
        cams = FoVPerspectiveCameras(R=R, T=T)
        sigma = 1e-4
        rs = RasterizationSettings(
            image_size=256, blur_radius=math.log(1 / 1e-4 - 1) * sigma, faces_per_pixel=50
        )
        rast = MeshRasterizer(cams, rs)
        shader = SoftSilhouetteShader(BlendParams(sigma=sigma))
        verts = meshes.verts_padded().clone().requires_grad_(True)
        for _ in range(repeats):
            m = meshes.update_padded(verts)
            c0 = time.process_time()
            t0 = time.perf_counter()
            frags = rast(m)
            t1 = time.perf_counter()
            img = shader(frags, m)
            loss = ((img[..., 3] - 0.5) ** 2).mean()
            loss.backward()
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
            raster_times.append(t1 - t0)
            kept = int((frags.pix_to_face >= 0).sum())
            del frags, img, loss
            verts.grad = None
        extra = {"faces": 8 * 5120, "kept_pairs": kept}
    else:
        mesh = ico_sphere(6)
        mesh.textures = TexturesVertex(verts_features=torch.ones_like(mesh.verts_padded()))
        R, T = look_at_view_transform(2.7, 20.0, 30.0)
        cam = FoVPerspectiveCameras(R=R, T=T)
        rast = MeshRasterizer(cam, RasterizationSettings(image_size=512, faces_per_pixel=1))
        renderer = MeshRenderer(rast, HardPhongShader(cameras=cam))
        for _ in range(repeats):
            with torch.no_grad():
                c0 = time.process_time()
                t0 = time.perf_counter()
                frags = rast(mesh)
                t1 = time.perf_counter()
                renderer.shader(frags, mesh)
                times.append(time.perf_counter() - t0)
                cpu_times.append(time.process_time() - c0)
                raster_times.append(t1 - t0)
        extra = {"faces": int(mesh.faces_packed().shape[0])}
    return {
        "workload": name,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "raster_median_s": statistics.median(raster_times),
        "cpu_median_s": statistics.median(cpu_times),
        "times_s": [round(t, 3) for t in times],
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_mb": round(base_rss, 1),
        "threads": threads,
        **extra,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["soft", "hard"], default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_workload(args.child, args.repeats, args.threads)))
        return
    targets = {"soft": (2.0, 2048.0), "hard": (1.0, None)}
    for name in [args.only] if args.only else ["soft", "hard"]:
        cmd = [sys.executable, __file__, "--child", name, "--repeats", str(args.repeats)]
        cmd += ["--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        t_target, m_target = targets[name]
        ok_t = "OK" if res["median_s"] <= t_target else "MISSED"
        line = (
            f"{name}: median {res['median_s']:.3f} s (rasterizer {res['raster_median_s']:.3f} s, "
            f"runs {res['times_s']}, process CPU {res['cpu_median_s']:.3f} s) target {t_target} s "
            f"{ok_t}; peak RSS {res['peak_rss_mb']} MB "
            f"(interpreter+torch {res['rss_before_mb']} MB)"
        )
        if m_target is not None:
            line += (
                f" target {m_target:.0f} MB {'OK' if res['peak_rss_mb'] <= m_target else 'MISSED'}"
            )
        print(line)
        print("  " + json.dumps(res))


if __name__ == "__main__":
    main()
