"""vis.texture_vis: UV positions drawn at the texel they sample (no plotly needed)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from inverse3d.renderer.mesh.textures import TexturesUV
from inverse3d.vis import texturesuv_image_matplotlib, texturesuv_image_PIL

matplotlib.use("Agg")


def _texture(H=5, W=7):
    maps = torch.ones(1, H, W, 3)  # white
    verts_uvs = torch.tensor([[[0.5, 0.5], [0.0, 1.0], [1.0, 0.0]]])
    faces_uvs = torch.tensor([[[0, 1, 2]]])
    return TexturesUV(maps=maps, faces_uvs=faces_uvs, verts_uvs=verts_uvs)


class TestTexturesUVImagePIL:
    def test_points_drawn_at_texels(self):
        tex = _texture(21, 31)
        assert tex.centers_for_image(0).tolist() == [[15.0, 10.0], [0.0, 0.0], [30.0, 20.0]]
        img = np.asarray(texturesuv_image_PIL(tex, radius=3))
        assert img.shape == (21, 31, 3) and img.dtype == np.uint8
        marked = (img != 255).any(-1)
        # uv (0.5, 0.5) -> centre texel (row 10, col 15); (0, 1) -> top-left; (1, 0) -> bottom-right
        for r, c in [(10, 15), (0, 0), (20, 30)]:
            assert img[r, c].tolist() == [255, 0, 0]
        rows, cols = np.nonzero(marked)
        near = [
            min((r - cr) ** 2 + (c - cc) ** 2 for cr, cc in [(10, 15), (0, 0), (20, 30)])
            for r, c in zip(rows, cols)
        ]
        assert max(near) <= 3**2 + 1  # every marked pixel lies in a disk of radius ~3
        assert 20 <= marked.sum() <= 3 * 37  # about pi r^2 per full disk (corner ones clipped)

    def test_subsample_and_color(self):
        tex = _texture()
        np.random.seed(0)
        img = np.asarray(texturesuv_image_PIL(tex, radius=0.4, color="blue", subsample=1))
        marked = (img != 255).any(-1)
        assert 1 <= int(marked.sum()) <= 4  # one tiny disk
        assert all(p.tolist() == [0, 0, 255] for p in img[marked])

    def test_exceptions(self):
        with pytest.raises(TypeError, match="TexturesUV"):
            texturesuv_image_PIL(torch.zeros(3))
        with pytest.raises(IndexError, match="texture_index"):
            texturesuv_image_PIL(_texture(), texture_index=3)


class TestTexturesUVImageMatplotlib:
    def test_patches(self):
        import matplotlib.pyplot as plt

        plt.figure()
        texturesuv_image_matplotlib(_texture(), radius=2, color=(0.0, 1.0, 0.0))
        ax = plt.gca()
        centers = sorted(tuple(round(v, 5) for v in p.center) for p in ax.patches)
        assert centers == [(0.0, 0.0), (3.0, 2.0), (6.0, 4.0)]
        assert all(p.radius == 2 for p in ax.patches)
        assert len(ax.images) == 1 and ax.images[0].get_array().shape == (5, 7, 3)
        plt.close("all")

    def test_origin_checked(self):
        with pytest.raises(ValueError, match="origin"):
            texturesuv_image_matplotlib(_texture(), origin="middle")
