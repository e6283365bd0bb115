r"""Hierarchical softmax (word2vec's ``hs=1``) for skip-gram over random walks: the Huffman tree
over the nodes, and the scores, loss and closed-form gradients of every pair of a walk's window
against the tree path of its target.

A node :math:`v` is a leaf of a binary tree whose :math:`|V| - 1` inner nodes carry vectors
:math:`\boldsymbol{\theta}_n`. With :math:`p_{vk}` the inner nodes on the path from :math:`v`
up to the root and :math:`c_{vk} \in \{0, 1\}` the branch taken below each, the input vector
:math:`\mathbf{u}` of a pair predicts :math:`v` at the cost

.. math::
    \sum_k \ell_0\big((1 - 2 c_{vk})\, \mathbf{u}^{\top} \boldsymbol{\theta}_{p_{vk}}\big),
    \qquad \ell_0(x) = -\log \sigma(x),

:math:`O(\log |V|)` terms instead of a softmax over all nodes.
:class:`~pyg_course.nn.models.DeepWalk` uses it with ``hierarchical_softmax=True``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def huffman_paths(weights: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    r"""word2vec's Huffman tree over ``N`` leaves of the given (positive) ``weights``.

    Returns ``(path, code, mask)``, each ``(N, P)`` with ``P`` the depth of the deepest leaf:
    ``path[v, k]`` is the ``k``-th internal node (in ``[0, N - 1)``) on the way from leaf
    ``v`` up to the root, ``code[v, k]`` the branch (0/1) taken below it, ``mask`` marks the
    real entries (``path`` and ``code`` are 0 elsewhere). Frequent leaves get short paths:
    the tree minimises :math:`\sum_v w_v \, \mathrm{len}(v)`.
    """
    n = weights.numel()
    if n < 2:
        empty = torch.zeros(n, 0, dtype=torch.long)
        return empty, empty.clone(), empty.bool()
    w = weights.detach().double().cpu()
    order = torch.argsort(w, stable=True).tolist()
    counts = w[order].tolist()
    # word2vec's two-queue construction: leaves ascending, internal nodes appended in
    # non-decreasing order; nodes 0..n-1 are leaves (in `order`), n.. internal.
    parent = [0] * (2 * n - 1)
    bit = [0] * (2 * n - 1)
    inner = []
    li, ii = 0, 0
    for k in range(n - 1):
        pair = []
        for _ in range(2):
            if li < n and (ii >= len(inner) or counts[li] <= inner[ii]):
                pair.append((li, counts[li]))
                li += 1
            else:
                pair.append((n + ii, inner[ii]))
                ii += 1
        (a, wa), (b, wb) = pair
        parent[a] = parent[b] = n + k
        bit[b] = 1
        inner.append(wa + wb)
    parent_t = torch.from_numpy(np.asarray(parent, dtype=np.int64))
    bit_t = torch.from_numpy(np.asarray(bit, dtype=np.int64))
    root = 2 * n - 2
    cur = torch.empty(n, dtype=torch.long)
    cur[torch.tensor(order)] = torch.arange(n)       # leaf slot of every node
    paths, codes, masks = [], [], []
    alive = torch.ones(n, dtype=torch.bool)
    while bool(alive.any()):
        p = parent_t[cur]
        paths.append(torch.where(alive, p - n, 0))
        codes.append(torch.where(alive, bit_t[cur], 0))
        masks.append(alive.clone())
        cur = torch.where(alive, p, cur)
        alive = alive & (cur != root)
    # The root's own internal index is n - 2; internal node n + k is row k of the table.
    return torch.stack(paths, 1), torch.stack(codes, 1), torch.stack(masks, 1)


def window_offsets(pair_weights: Tensor, window_size: int) -> Tensor:
    r"""``(L, 2 s + 1)`` pair weights by offset, from the ``(L, L)`` weights of the pairs of a
    walk (target position ``i``, input position ``j``): entry ``(i, o)`` is the weight of the
    pair ``(i, j = i + o - s)``, 0 when ``j`` is outside the walk."""
    L, s = pair_weights.size(0), window_size
    device = pair_weights.device
    j = torch.arange(L, device=device).view(-1, 1) + torch.arange(2 * s + 1, device=device) - s
    inside = (j >= 0) & (j < L)
    return pair_weights.gather(1, j.clamp(0, L - 1)) * inside


class WindowScores(NamedTuple):
    r"""What :func:`window_scores` returns, for a batch of ``B`` walks of ``L`` nodes with
    ``D``-dimensional vectors, ``P`` the batch's deepest tree path and ``s`` the window size:
    ``score`` ``(B L, P, 2 s + 1)``, every inner node on a target's path against the input
    vectors of the window around it; ``label`` ``(B L, P, 1)``, 1 for branch code 0, else 0;
    ``weight`` ``(B L, P, 2 s + 1)``, the pair weight (0 for padding); ``path`` ``(B L, P)``,
    the inner nodes on each target's path; ``mask`` ``(B L, P)``, 1 on the real entries of
    ``path``; ``theta`` ``(B L, P, D)``, the inner nodes' vectors; ``u_win``
    ``(B L, D, 2 s + 1)``, the window's input vectors (zero padded)."""

    score: Tensor
    label: Tensor
    weight: Tensor
    path: Tensor
    mask: Tensor
    theta: Tensor
    u_win: Tensor


def window_scores(walks: Tensor, u: Tensor, context: Callable[[Tensor], Tensor], path: Tensor,
                  label: Tensor, mask: Tensor, offsets: Tensor,
                  window_size: int) -> WindowScores:
    r"""Hierarchical-softmax scores of a ``(B, L)`` batch of walks with input vectors ``u``
    ``(B, L, D)``: every target position's tree path (``context(nodes)`` gives the vectors of
    inner nodes) against the ``2 s + 1`` input vectors around it. ``path``, ``label`` and
    ``mask`` are the per-node tables (``(|V|, P_max)``: the paths of :func:`huffman_paths`,
    ``1 - code`` and the mask, masked), ``offsets`` the ``(L, 2 s + 1)`` pair weights of
    :func:`window_offsets`."""
    B, L, D, s = walks.size(0), walks.size(1), u.size(-1), window_size
    flat = walks.reshape(-1)
    mask = mask[flat]
    P = int(mask.sum(1).max()) if mask.numel() else 0
    mask = mask[:, :P].to(u.dtype)
    path = path[flat, :P]                                                # (B L, P)
    label = label[flat, :P].to(u.dtype).unsqueeze(-1)
    theta = context(path)                                                # (B L, P, D)
    # Input vectors of the 2 s + 1 positions around every target position (zero padded).
    u_win = F.pad(u, (0, 0, s, s)).unfold(1, 2 * s + 1, 1).reshape(B * L, D, 2 * s + 1)
    weight = mask.unsqueeze(-1) * offsets.to(u.dtype).repeat(B, 1).unsqueeze(1)
    return WindowScores(torch.bmm(theta, u_win), label, weight, path, mask, theta, u_win)


def window_loss(scores: WindowScores) -> Tensor:
    r"""The weighted sum over all entries of :math:`\ell_0(\mathrm{score})` where ``label`` is
    1 and :math:`\ell_0(-\mathrm{score})` where it is 0."""
    score, label = scores.score, scores.label
    return (F.softplus(score - 2 * label * score) * scores.weight).sum()  # -log sigma(+-score)


def window_descent(scores: WindowScores, walk_length: int) -> Tuple[Tensor, Tensor]:
    r"""Minus the gradients of :func:`window_loss`, in closed form: ``(B, L, D)`` for the
    input vectors of the walks (summed over the windows each position is in) and
    ``(B L, P, D)`` for the inner-node vectors ``theta``."""
    L = walk_length
    BL, D, width = scores.u_win.shape
    B, s = BL // L, (width - 1) // 2
    g = (scores.label - torch.sigmoid(scores.score)).mul_(scores.weight)  # -dloss/dscore
    grad_theta = torch.bmm(g, scores.u_win.transpose(1, 2))              # (B L, P, D)
    grad_win = torch.bmm(g.transpose(1, 2), scores.theta).view(B, L, width, D)
    grad_u = scores.u_win.new_zeros(B, L + 2 * s, D)
    for o in range(width):
        if o != s:
            grad_u[:, o:o + L] += grad_win[:, :, o]
    return grad_u[:, s:s + L], grad_theta
