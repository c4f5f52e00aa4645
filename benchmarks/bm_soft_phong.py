"""CPU benchmark: SoftPhongShader against SoftSilhouetteShader at many faces per pixel (issue 15).

Workload (the soft-rasterizer recipe): N x ico_sphere(4) (5120 faces each) with vertex colours,
FoVPerspectiveCameras at distance 2.7, S x S pixels, faces_per_pixel=50,
blur_radius = log(1/1e-4 - 1) * 1e-4, BlendParams(sigma=1e-4, gamma=1e-4), default PointLights.

Timed, median of --repeats after one warm-up:
  shade fwd      the shader alone on fixed fragments, no autograd
  shade fwd+bwd  the shader alone on fixed fragments that require grad (bary_coords, zbuf, dists,
                 and the vertices / vertex colours for Phong), backward of a random-cotangent loss
  render fwd+bwd rasterizer + shader, backward to the vertices (the training path)
for SoftPhongShader, SoftSilhouetteShader, and the reference composition
softmax_rgb_blend(phong_shading(...)) that SoftPhongShader computed before issue 15 ("dense").
The ratio printed is Phong / Silhouette at the same settings. It also prints the share of the
filled (pixel, face) slots whose softmax weight is non-zero.

The load average (uptime) before and after is printed: compare runs at a similar load.
Usage: OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bm_soft_phong.py
       [--size 128] [--batch 2] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

from _timing import peak_rss_mb


def median_wall_cpu(fn, repeat: int) -> tuple[float, float]:
    """Median wall and process-CPU seconds of `repeat` calls after one warm-up call (with 1
    thread on a loaded machine the CPU time is the work itself, the wall time includes waits)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def carrying_weight(frags, blend, znear, zfar):
    """The (N, H, W, K) softmax weights p_k exp((z_k - z_max) / gamma) of softmax_rgb_blend."""
    import torch

    mask = frags.pix_to_face >= 0
    prob = torch.sigmoid(-frags.dists / blend.sigma) * mask
    zfar, znear = zfar.reshape(-1, 1, 1, 1), znear.reshape(-1, 1, 1, 1)
    z_inv = (zfar - frags.zbuf) / (zfar - znear) * mask
    z_max = z_inv.max(dim=-1, keepdim=True).values.clamp(min=1e-10)
    return prob * torch.exp((z_inv - z_max) / blend.gamma)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--faces-per-pixel", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from inverse3d.renderer.blending import BlendParams, softmax_rgb_blend
    from inverse3d.renderer.cameras import FoVPerspectiveCameras
    from inverse3d.renderer.lighting import PointLights
    from inverse3d.renderer.look_at import look_at_view_transform
    from inverse3d.renderer.materials import Materials
    from inverse3d.renderer.mesh.rasterizer import Fragments, MeshRasterizer, RasterizationSettings
    from inverse3d.renderer.mesh.shader import SoftPhongShader, SoftSilhouetteShader
    from inverse3d.renderer.mesh.shading import phong_shading
    from inverse3d.renderer.mesh.textures import TexturesVertex
    from inverse3d.utils.ico_sphere import ico_sphere

    load0 = os.getloadavg()
    N, S, K = args.batch, args.size, args.faces_per_pixel
    sigma = 1e-4
    base = ico_sphere(4).extend(N)
    verts0 = base.verts_padded()
    colors0 = torch.rand(verts0.shape)
    R, T = look_at_view_transform(2.7, torch.linspace(0, 60, N), torch.linspace(0, 300, N))
    cams = FoVPerspectiveCameras(R=R, T=T)
    lights = PointLights(location=[[0.0, 0.0, -3.0]])
    blend = BlendParams(sigma=sigma, gamma=1e-4)
    rs = RasterizationSettings(
        image_size=S, blur_radius=math.log(1 / sigma - 1) * sigma, faces_per_pixel=K
    )
    rast = MeshRasterizer(cams, rs)
    phong = SoftPhongShader(cameras=cams, lights=lights, blend_params=blend)
    sil = SoftSilhouetteShader(blend)

    def dense(frags, meshes):
        texels = meshes.sample_textures(frags)
        colors = phong_shading(meshes, frags, lights, cams, Materials(), texels)
        return softmax_rgb_blend(colors, frags, blend, znear=cams.znear, zfar=cams.zfar)

    with torch.no_grad():
        mesh0 = base.update_padded(verts0)
        mesh0.textures = TexturesVertex(colors0)
        frags0 = rast(mesh0)
    filled = frags0.pix_to_face >= 0
    cot = torch.randn(N, S, S, 4)

    def leaf_inputs():
        verts = verts0.clone().requires_grad_(True)
        feats = colors0.clone().requires_grad_(True)
        frags = Fragments(
            frags0.pix_to_face,
            frags0.zbuf.clone().requires_grad_(True),
            frags0.bary_coords.clone().requires_grad_(True),
            frags0.dists.clone().requires_grad_(True),
        )
        mesh = base.update_padded(verts)
        mesh.textures = TexturesVertex(feats)
        return frags, mesh

    shaders = {"phong": phong, "silhouette": sil, "dense": dense}
    rows = {}
    for name, shader in shaders.items():

        def fwd(shader=shader):
            with torch.no_grad():
                shader(frags0, mesh0)

        def fwd_bwd(shader=shader):
            frags, mesh = leaf_inputs()
            (shader(frags, mesh) * cot).sum().backward()

        def render(shader=shader):
            verts = verts0.clone().requires_grad_(True)
            mesh = base.update_padded(verts)
            mesh.textures = TexturesVertex(colors0)
            (shader(rast(mesh), mesh) * cot).sum().backward()

        rows[name] = [median_wall_cpu(f, args.repeats) for f in (fwd, fwd_bwd, render)]

    carrying = int((carrying_weight(frags0, blend, cams.znear, cams.zfar) > 0).sum())
    print(f"load average before/after: {load0} / {os.getloadavg()}")
    print(
        f"N={N} ico_sphere(4) {S}x{S} K={K} sigma=gamma=1e-4 threads={args.threads} "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} torch {torch.__version__}"
    )
    print(
        f"filled slots {int(filled.sum())} of {filled.numel()}; with non-zero weight {carrying} "
        f"({100.0 * carrying / max(int(filled.sum()), 1):.1f}% of filled)"
    )
    print(f"{'shader':<11} {'shade fwd':>15} {'shade fwd+bwd':>15} {'render fwd+bwd':>15}")
    print(f"{'':<11} {'(median s: wall / process CPU)':>47}")
    for name, cols in rows.items():
        print(f"{name:<11} " + " ".join(f"{w:7.4f}/{c:7.4f}" for w, c in cols))
    s = rows["silhouette"]
    for name in ("phong", "dense"):
        ratios = " ".join(
            f"{w / sw:6.2f}x/{c / sc:6.2f}x" for (w, c), (sw, sc) in zip(rows[name], s)
        )
        print(f"{name}/silhouette: {ratios}")
    print(f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
