"""Graph convolution over mesh edges (PyTorch3D `ops.GraphConv`)."""

from __future__ import annotations

import torch
import torch.nn as nn

from inverse3d._validation import check_choice, check_positive_int, check_tensor

__all__ = ["GraphConv", "gather_scatter"]


def gather_scatter(
    input: torch.Tensor, edges: torch.Tensor, directed: bool = False
) -> torch.Tensor:
    """Sum of neighbour features: out[i] = sum over edges (i, j) of input[j].

    Args:
        input: (V, D) float vertex features.
        edges: (E, 2) int vertex index pairs.
        directed: if False each edge also sends input[i] to out[j].

    Returns:
        (V, D) float.
    """
    check_tensor(input, "input", (None, None), "float")
    check_tensor(edges, "edges", (None, 2), "int")
    edges = edges.long()
    out = torch.zeros_like(input).index_add(0, edges[:, 0], input[edges[:, 1]])
    if not directed:
        out = out.index_add(0, edges[:, 1], input[edges[:, 0]])
    return out


class GraphConv(nn.Module):
    """out_i = W0 x_i + sum over neighbours j of W1 x_j (both linear layers with bias)."""

    def __init__(
        self, input_dim: int, output_dim: int, init: str = "normal", directed: bool = False
    ) -> None:
        """
        Args:
            input_dim: D_in, number of input features per vertex.
            output_dim: D_out, number of output features per vertex.
            init: "normal" (weights N(0, 0.01), zero bias), "zero" (all zero) or "default"
                (torch.nn.Linear's initialisation).
            directed: only aggregate along edges (i, j) from j to i.
        """
        super().__init__()
        self.input_dim = check_positive_int(input_dim, "input_dim")
        self.output_dim = check_positive_int(output_dim, "output_dim")
        check_choice(init, "init", ["normal", "zero", "default"])
        self.directed = directed
        self.w0 = nn.Linear(input_dim, output_dim)
        self.w1 = nn.Linear(input_dim, output_dim)
        if init == "normal":
            for lin in (self.w0, self.w1):
                nn.init.normal_(lin.weight, mean=0.0, std=0.01)
                lin.bias.data.zero_()
        elif init == "zero":
            for lin in (self.w0, self.w1):
                lin.weight.data.zero_()
                lin.bias.data.zero_()

    def forward(self, verts: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """
        Args:
            verts: (V, D_in) float vertex features (packed).
            edges: (E, 2) int vertex index pairs (e.g. Meshes.edges_packed()).

        Returns:
            (V, D_out) float.
        """
        check_tensor(verts, "verts", (None, self.input_dim), "float")
        check_tensor(edges, "edges", (None, 2), "int")
        if verts.device != edges.device:
            raise ValueError(
                f"verts and edges must be on the same device; got {verts.device} and {edges.device}"
            )
        if verts.shape[0] == 0:
            return verts.new_zeros((0, self.output_dim)) * verts.sum()
        if edges.numel() and (int(edges.min()) < 0 or int(edges.max()) >= verts.shape[0]):
            raise ValueError(f"edges must index verts (0..{verts.shape[0] - 1})")
        return self.w0(verts) + gather_scatter(self.w1(verts), edges, self.directed)

    def __repr__(self) -> str:
        return f"GraphConv({self.input_dim} -> {self.output_dim}, directed={self.directed!r})"
