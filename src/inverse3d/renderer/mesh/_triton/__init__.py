"""Triton kernels for the mesh renderer (imported lazily by `rasterize_meshes`; CUDA only)."""
