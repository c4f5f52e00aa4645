"""Triton kernels for ops (imported lazily by the ops they accelerate; CUDA only)."""
