"""Small shared types and helpers (PyTorch3D's `common`)."""

from inverse3d.common.datatypes import Device, get_device, make_device
from inverse3d.common.errors import InputError

__all__ = ["Device", "InputError", "get_device", "make_device"]
