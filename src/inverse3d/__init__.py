"""inverse3d: 3D deep learning and inverse rendering on PyTorch.

Subpackages follow PyTorch3D's layout (structures, io, transforms, renderer, loss, ops, utils) so
that code written for PyTorch3D runs after an import change; models, methods, datasets, eval and
viz hold the reconstruction methods built on top of them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
