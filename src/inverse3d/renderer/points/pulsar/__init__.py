"""Pulsar-style sphere rendering (PyTorch3D's `renderer.points.pulsar`): the unified
PulsarPointsRenderer interface."""

from inverse3d.renderer.points.pulsar.unified import PulsarPointsRenderer

__all__ = ["PulsarPointsRenderer"]
