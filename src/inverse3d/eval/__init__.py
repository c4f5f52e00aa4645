"""Evaluation metrics (definitions in docs/metrics.md)."""

from inverse3d.eval.metrics import MESH_METRICS, evaluate_meshes, mask_iou, psnr, ssim

__all__ = ["MESH_METRICS", "evaluate_meshes", "mask_iou", "psnr", "ssim"]
