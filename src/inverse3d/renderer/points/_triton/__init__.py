"""Triton kernels for point rendering (imported lazily by the modules they accelerate; CUDA only)."""
