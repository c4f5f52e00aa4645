"""Ray sampling, ray marching and volumetric / implicit rendering."""

from inverse3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding
from inverse3d.renderer.implicit.raymarching import (
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
)
from inverse3d.renderer.implicit.raysampling import (
    GridRaysampler,
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCGridRaysampler,
    NDCMultinomialRaysampler,
)
from inverse3d.renderer.implicit.renderer import ImplicitRenderer, VolumeRenderer, VolumeSampler
from inverse3d.renderer.implicit.utils import (
    HeterogeneousRayBundle,
    RayBundle,
    ray_bundle_to_ray_points,
    ray_bundle_variables_to_ray_points,
)
from inverse3d.renderer.implicit.weights import (
    emission_absorption_transmittance,
    emission_absorption_weights,
)

__all__ = [
    "AbsorptionOnlyRaymarcher",
    "EmissionAbsorptionRaymarcher",
    "GridRaysampler",
    "HarmonicEmbedding",
    "HeterogeneousRayBundle",
    "ImplicitRenderer",
    "MonteCarloRaysampler",
    "MultinomialRaysampler",
    "NDCGridRaysampler",
    "NDCMultinomialRaysampler",
    "RayBundle",
    "VolumeRenderer",
    "VolumeSampler",
    "emission_absorption_transmittance",
    "emission_absorption_weights",
    "ray_bundle_to_ray_points",
    "ray_bundle_variables_to_ray_points",
]
