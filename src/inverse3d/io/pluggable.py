"""The `IO` facade: load and save meshes and point clouds by file format, with pluggable formats.

Interpreters are tried most recently registered first; each returns None (read) or False (save)
when the path is not in its format. Defaults: OBJ, OFF, PLY meshes and PLY point clouds.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from inverse3d.io.obj_io import MeshObjFormat
from inverse3d.io.off_io import MeshOffFormat
from inverse3d.io.pluggable_formats import MeshFormatInterpreter, PointcloudFormatInterpreter
from inverse3d.io.ply_io import MeshPlyFormat, PointcloudPlyFormat
from inverse3d.io.utils import file_name

__all__ = ["IO"]


class IO:
    """Load and save meshes and point clouds in any registered format.

    Args:
        include_default_formats: register OBJ, OFF and PLY (meshes) and PLY (point clouds).
        path_manager: optional iopath-style object (``open(path, mode)``, ``exists``,
            ``isfile``) passed to the interpreters and used to open string paths.
        strict: (inverse3d extension, keyword only) the default formats reject NaN / infinite
            vertex data, also float32 overflow, with a ParseError naming the line (text) or the
            record (binary). Off by default, as PyTorch3D loads such values silently.
    """

    def __init__(
        self,
        include_default_formats: bool = True,
        path_manager: Any = None,
        *,
        strict: bool = False,
    ) -> None:
        if not isinstance(strict, bool):
            raise TypeError(f"strict must be a bool; got {type(strict).__name__}")
        self.path_manager = path_manager
        self.strict = strict
        self.mesh_interpreters: deque = deque()
        self.pointcloud_interpreters: deque = deque()
        if include_default_formats:
            self.register_default_formats()

    def register_default_formats(self) -> None:
        self.register_meshes_format(MeshObjFormat())
        self.register_meshes_format(MeshOffFormat())
        self.register_meshes_format(MeshPlyFormat())
        self.register_pointcloud_format(PointcloudPlyFormat())

    def register_meshes_format(self, interpreter: MeshFormatInterpreter) -> None:
        """Add a mesh format; it is tried before those registered earlier."""
        if not isinstance(interpreter, MeshFormatInterpreter):
            raise TypeError(
                f"interpreter must be a MeshFormatInterpreter; got {type(interpreter).__name__}"
            )
        self.mesh_interpreters.appendleft(interpreter)

    def register_pointcloud_format(self, interpreter: PointcloudFormatInterpreter) -> None:
        """Add a point cloud format; it is tried before those registered earlier."""
        if not isinstance(interpreter, PointcloudFormatInterpreter):
            raise TypeError(
                "interpreter must be a PointcloudFormatInterpreter; "
                f"got {type(interpreter).__name__}"
            )
        self.pointcloud_interpreters.appendleft(interpreter)

    def load_mesh(self, path: Any, include_textures: bool = True, device: Any = "cpu", **kwargs):
        """Load a Meshes (batch of one) from `path`; ValueError when no format reads it."""
        if self.strict:
            kwargs.setdefault("strict", True)
        for interp in self.mesh_interpreters:
            mesh = interp.read(
                path,
                include_textures=include_textures,
                path_manager=self.path_manager,
                device=device,
                **kwargs,
            )
            if mesh is not None:
                return mesh
        raise ValueError(f"No mesh interpreter found to read {file_name(path)}.")

    def save_mesh(
        self,
        data: Any,
        path: Any,
        binary: bool | None = True,
        include_textures: bool = True,
        **kwargs,
    ) -> None:
        """Save a Meshes of one mesh to `path` (binary where the format has a binary form)."""
        from inverse3d.structures.meshes import Meshes

        if not isinstance(data, Meshes):
            raise ValueError(f"Meshes object expected; got {type(data).__name__}")
        if len(data) != 1:
            raise ValueError(f"Can only save a single mesh; got a batch of {len(data)}")
        for interp in self.mesh_interpreters:
            if interp.save(
                data,
                path,
                path_manager=self.path_manager,
                binary=binary,
                include_textures=include_textures,
                **kwargs,
            ):
                return
        raise ValueError(f"No mesh interpreter found to write to {file_name(path)}.")

    def load_pointcloud(self, path: Any, device: Any = "cpu", **kwargs):
        """Load a Pointclouds (batch of one) from `path`; ValueError when no format reads it."""
        if self.strict:
            kwargs.setdefault("strict", True)
        for interp in self.pointcloud_interpreters:
            cloud = interp.read(path, path_manager=self.path_manager, device=device, **kwargs)
            if cloud is not None:
                return cloud
        raise ValueError(f"No point cloud interpreter found to read {file_name(path)}.")

    def save_pointcloud(self, data: Any, path: Any, binary: bool | None = True, **kwargs) -> None:
        """Save a Pointclouds of one cloud to `path`."""
        from inverse3d.structures.pointclouds import Pointclouds

        if not isinstance(data, Pointclouds):
            raise ValueError(f"Pointclouds object expected; got {type(data).__name__}")
        if len(data) != 1:
            raise ValueError(f"Can only save a single point cloud; got a batch of {len(data)}")
        for interp in self.pointcloud_interpreters:
            if interp.save(data, path, path_manager=self.path_manager, binary=binary, **kwargs):
                return
        raise ValueError(f"No point cloud interpreter found to write to {file_name(path)}.")
