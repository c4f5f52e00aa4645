"""Neural field building blocks: NeRF, hash-grid encoding, occupancy grid, SIREN, DeepSDF."""

from inverse3d.models.deepsdf import DeepSDF, LatentCodes
from inverse3d.models.hash_grid import HashGridEncoding, HashGridField
from inverse3d.models.nerf import NeRF, NeuralRadianceField, volume_render_weights
from inverse3d.models.occupancy_grid import OccupancyGrid
from inverse3d.models.siren import SineLayer, Siren

__all__ = [
    "DeepSDF",
    "HashGridEncoding",
    "HashGridField",
    "LatentCodes",
    "NeRF",
    "NeuralRadianceField",
    "OccupancyGrid",
    "SineLayer",
    "Siren",
    "volume_render_weights",
]
