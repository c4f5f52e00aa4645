"""Triton kernels for models (imported lazily by the modules they accelerate; CUDA only)."""
