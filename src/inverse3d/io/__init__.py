"""Mesh and point cloud files: OBJ (+ MTL), PLY, OFF and the pluggable `IO` facade."""

from inverse3d.io.obj_io import load_obj, load_objs_as_meshes, save_obj
from inverse3d.io.pluggable import IO
from inverse3d.io.ply_io import load_ply, save_ply

__all__ = ["IO", "load_obj", "load_objs_as_meshes", "load_ply", "save_obj", "save_ply"]
