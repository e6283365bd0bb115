"""Closed-form layer formulas written densely, in float64, for the tests to compare against."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def dense_adjacency(edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor] = None,
                    dtype=torch.float64) -> Tensor:
    """``A[i, j]`` = total weight of the edges ``j -> i`` (duplicates add up)."""
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.size(1))
    w = edge_weight.to(dtype)
    A = torch.zeros(num_nodes, num_nodes, dtype=dtype)
    A.index_put_((edge_index[1], edge_index[0]), w, accumulate=True)
    return A


def dense_gcn(x: Tensor, edge_index: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
              edge_weight: Optional[Tensor] = None, improved: bool = False,
              add_self_loops: bool = True, normalize: bool = True) -> Tensor:
    r""":math:`\hat{D}^{-1/2} \hat{A} \hat{D}^{-1/2} X W^\top + b` with
    :math:`\hat{A} = A + \lambda I` on the nodes that have no self-loop yet (a node with a
    self-loop keeps its own weight), :math:`\lambda = 2` if ``improved``."""
    n = x.size(0)
    A = dense_adjacency(edge_index, n, edge_weight)
    if add_self_loops:
        has_loop = torch.zeros(n, dtype=torch.bool)
        has_loop[edge_index[0][edge_index[0] == edge_index[1]]] = True
        A = A + torch.diag((~has_loop).double() * (2.0 if improved else 1.0))
    return propagate_dense(A, x, weight, bias, normalize)


def propagate_dense(A, x, weight, bias=None, normalize=True):
    r""":math:`\tilde{A} X W^\top + b` in float64, with
    :math:`\tilde{A} = D^{-1/2} A D^{-1/2}` (a zero-degree node's row and column zero) when
    ``normalize``, else :math:`A` itself."""
    if normalize:
        deg = A.sum(dim=1)
        d = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
        A = d.view(-1, 1) * A * d.view(1, -1)
    out = A @ (x.double() @ weight.double().t())
    return out if bias is None else out + bias.double()
