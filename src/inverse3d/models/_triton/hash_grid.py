"""Fused multi-resolution hash encoding (3D), forward and table gradient, in Triton.

Same function as `HashGridEncoding.forward` on points already mapped to the unit cube: one
program handles BLOCK points through all levels, computing the cell, the 8 trilinear weights and
the 8 table rows (dense index or the xor-of-primes hash, identical to the reference) in
registers. The backward pass recomputes them and scatters weight * output gradient into the
table gradient with atomic adds. Gradients with respect to the points are not produced: the
module takes the reference when the points require a gradient.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["hash_encode", "level_params"]


@triton.jit
def _mul_rn(a, b):
    return tl.inline_asm_elementwise(
        "mul.rn.f32 $0, $1, $2;", "=f,f,f", [a, b], dtype=tl.float32, is_pure=True, pack=1
    )


@triton.jit
def _rows_weights(x, y, z, res_ptr, off_ptr, size_ptr, dense_ptr, lvl, c: tl.constexpr):
    """Table rows (int64) and weights of corner c of the cells of (x, y, z) at level lvl."""
    res = tl.load(res_ptr + lvl)
    off = tl.load(off_ptr + lvl)
    size = tl.load(size_ptr + lvl)
    dense = tl.load(dense_ptr + lvl)
    rf = res.to(tl.float32)
    # rounded products (mul.rn is never fused into an fma): the fraction pos - cell must
    # round exactly as the reference's u * res - cell does
    px = _mul_rn(x, rf)
    py = _mul_rn(y, rf)
    pz = _mul_rn(z, rf)
    cx = tl.minimum(tl.maximum(tl.floor(px), 0.0), rf - 1.0)
    cy = tl.minimum(tl.maximum(tl.floor(py), 0.0), rf - 1.0)
    cz = tl.minimum(tl.maximum(tl.floor(pz), 0.0), rf - 1.0)
    fx = px - cx
    fy = py - cy
    fz = pz - cz
    bx: tl.constexpr = c & 1
    by: tl.constexpr = (c >> 1) & 1
    bz: tl.constexpr = (c >> 2) & 1
    vx = cx.to(tl.int32) + bx
    vy = cy.to(tl.int32) + by
    vz = cz.to(tl.int32) + bz
    wx = fx if bx else 1.0 - fx
    wy = fy if by else 1.0 - fy
    wz = fz if bz else 1.0 - fz
    w = wx * wy * wz
    r1 = res + 1
    i_dense = vx + r1 * (vy + r1 * vz)  # < 2^31: dense levels have at most T rows
    # uint32 wrap-around keeps the low bits of the reference's int64 products
    h = vx.to(tl.uint32) ^ (vy.to(tl.uint32) * 2654435761) ^ (vz.to(tl.uint32) * 805459861)
    i_hash = (h & (size.to(tl.uint32) - 1)).to(tl.int32)
    row = off + tl.where(dense != 0, i_dense, i_hash).to(tl.int64)
    return row, w


@triton.jit
def _hash_fwd_kernel(
    u_ptr, table_ptr, res_ptr, off_ptr, size_ptr, dense_ptr, out_ptr, P,
    L: tl.constexpr, F: tl.constexpr, FP: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = offs < P
    x = tl.load(u_ptr + offs * 3, mask=m, other=0.0)
    y = tl.load(u_ptr + offs * 3 + 1, mask=m, other=0.0)
    z = tl.load(u_ptr + offs * 3 + 2, mask=m, other=0.0)
    fo = tl.arange(0, FP)
    mf = m[:, None] & (fo[None, :] < F)
    for lvl in tl.static_range(L):
        acc = tl.zeros((BLOCK, FP), dtype=tl.float32)
        for c in tl.static_range(8):
            row, w = _rows_weights(x, y, z, res_ptr, off_ptr, size_ptr, dense_ptr, lvl, c)
            feat = tl.load(table_ptr + row[:, None] * F + fo[None, :], mask=mf, other=0.0)
            acc += w[:, None] * feat
        tl.store(out_ptr + offs[:, None] * (L * F) + lvl * F + fo[None, :], acc, mask=mf)


@triton.jit
def _hash_bwd_kernel(
    u_ptr, grad_out_ptr, res_ptr, off_ptr, size_ptr, dense_ptr, grad_table_ptr, P,
    L: tl.constexpr, F: tl.constexpr, FP: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = offs < P
    x = tl.load(u_ptr + offs * 3, mask=m, other=0.0)
    y = tl.load(u_ptr + offs * 3 + 1, mask=m, other=0.0)
    z = tl.load(u_ptr + offs * 3 + 2, mask=m, other=0.0)
    fo = tl.arange(0, FP)
    mf = m[:, None] & (fo[None, :] < F)
    for lvl in tl.static_range(L):
        g = tl.load(grad_out_ptr + offs[:, None] * (L * F) + lvl * F + fo[None, :], mask=mf)
        for c in tl.static_range(8):
            row, w = _rows_weights(x, y, z, res_ptr, off_ptr, size_ptr, dense_ptr, lvl, c)
            tl.atomic_add(
                grad_table_ptr + row[:, None] * F + fo[None, :], w[:, None] * g, mask=mf,
                sem="relaxed",
            )  # fmt: skip


def level_params(resolutions, offsets, sizes, dense, device) -> tuple[torch.Tensor, ...]:
    """Per-level (res int32, row offset int64, table size int64, dense int32) on device."""
    return (
        torch.tensor(resolutions, dtype=torch.int32, device=device),
        torch.tensor(offsets[: len(resolutions)], dtype=torch.int64, device=device),
        torch.tensor(sizes, dtype=torch.int64, device=device),
        torch.tensor([int(d) for d in dense], dtype=torch.int32, device=device),
    )


class _HashEncode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, table, params, block, num_warps):
        P = u.shape[0]
        F = table.shape[1]
        L = params[0].shape[0]
        out = torch.empty((P, L * F), dtype=table.dtype, device=u.device)
        if P:
            grid = (triton.cdiv(P, block),)
            _hash_fwd_kernel[grid](
                u, table, *params, out, P,
                L=L, F=F, FP=triton.next_power_of_2(F), BLOCK=block, num_warps=num_warps,
            )  # fmt: skip
        ctx.save_for_backward(u, *params)
        ctx.table_shape = table.shape
        ctx.launch = (block, num_warps)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        u, *params = ctx.saved_tensors
        P = u.shape[0]
        F = ctx.table_shape[1]
        L = params[0].shape[0]
        block, num_warps = ctx.launch
        grad_table = torch.zeros(ctx.table_shape, dtype=torch.float32, device=u.device)
        if P:
            grid = (triton.cdiv(P, block),)
            _hash_bwd_kernel[grid](
                u, grad_out.contiguous(), *params, grad_table, P,
                L=L, F=F, FP=triton.next_power_of_2(F), BLOCK=block, num_warps=num_warps,
            )  # fmt: skip
        return None, grad_table, None, None, None


def hash_encode(
    u: torch.Tensor, table: torch.Tensor, params: tuple, block: int = 64, num_warps: int = 2
) -> torch.Tensor:
    """Hash encoding of points of the unit cube.

    Args:
        u: (P, 3) float32 CUDA points in [0, 1]^3 (not differentiated).
        table: (T_total, F) float32 CUDA stacked level tables.
        params: `level_params(...)` of the encoding.
        block, num_warps: points per program (a power of two) and warps per program.

    Returns:
        (P, L * F) float32, level-major; differentiable with respect to table.
    """
    return _HashEncode.apply(u.contiguous(), table, params, block, num_warps)
