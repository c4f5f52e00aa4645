"""Small shared types and helpers (PyTorch3D's `common`)."""

from inverse3d.common.datatypes import Device, get_device, make_device

__all__ = ["Device", "get_device", "make_device"]
