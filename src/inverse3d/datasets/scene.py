"""`SceneData` lives in `inverse3d.structures.scene`; this path is kept for existing imports."""

from inverse3d.structures.scene import SceneData

__all__ = ["SceneData"]
