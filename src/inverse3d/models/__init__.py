"""Neural field building blocks: NeRF, hash-grid encoding, occupancy grid, SIREN, DeepSDF, SDF nets."""

from inverse3d.models.deepsdf import DeepSDF, LatentCodes
from inverse3d.models.hash_grid import HashGridEncoding, HashGridField
from inverse3d.models.nerf import NeRF, NeuralRadianceField, volume_render_weights
from inverse3d.models.occupancy_grid import OccupancyGrid
from inverse3d.models.sdf import HashGridSdf, build_sdf_model, load_sdf, save_sdf
from inverse3d.models.siren import SineLayer, Siren
from inverse3d.models.velocity_field import VelocityField, integrate_flow

__all__ = [
    "DeepSDF",
    "HashGridEncoding",
    "HashGridField",
    "HashGridSdf",
    "LatentCodes",
    "NeRF",
    "NeuralRadianceField",
    "OccupancyGrid",
    "SineLayer",
    "Siren",
    "VelocityField",
    "build_sdf_model",
    "integrate_flow",
    "load_sdf",
    "save_sdf",
    "volume_render_weights",
]
