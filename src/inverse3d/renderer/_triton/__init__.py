"""Triton kernels of the renderer layer (imported lazily by the functions they accelerate)."""
