"""The unsupervised loss of GraphSAGE (Hamilton et al., 2017) and the margin variant of its
well-known PyTorch re-implementation."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_course.utils.checks import check_real

MODES = ("sage", "margin")
SIMILARITIES = ("dot", "cosine")


class UnsupervisedSAGELoss(torch.nn.Module):
    r"""The graph-based unsupervised loss of `"Inductive Representation Learning on Large
    Graphs" <https://arxiv.org/abs/1706.02216>`_ (GraphSAGE): an anchor is pulled towards nodes
    that co-occur with it on short random walks and pushed away from negative nodes.

    With the pair score :math:`s(u, v) = z_u^\top z_v` (``similarity="dot"``) or
    :math:`s(u, v) = z_u^\top z_v / (\|z_u\| \|z_v\|)` (``similarity="cosine"``), anchor
    :math:`u`, its valid positives :math:`\mathcal{P}_u` and its negatives
    :math:`v_1, \dots, v_Q`:

    ``mode="sage"`` (the paper's Eq. (1), averaged over the positive pairs of :math:`u`):

    .. math::
        J_u = \frac{1}{|\mathcal{P}_u|} \sum_{v \in \mathcal{P}_u} -\log \sigma(s(u, v))
              \; - \; Q \cdot \frac{1}{Q} \sum_{n=1}^{Q} \log \sigma(-s(u, v_n))

    where the sample mean over the :math:`Q` negatives estimates
    :math:`\mathbb{E}_{v_n \sim P_n}`; ``neg_weight`` replaces the factor :math:`Q`.

    ``mode="margin"`` (the reference re-implementation's max-margin loss): with
    :math:`\ell(u, v) = \log \sigma(s(u, v))`, the hardest positive and the hardest negative,

    .. math::
        J_u = \max\Big(0,\; \max_n \ell(u, v_n) - \min_{v \in \mathcal{P}_u} \ell(u, v)
              + \mathrm{margin}\Big).

    The loss is the mean of :math:`J_u` over the anchors with at least one valid positive
    (an anchor without one, e.g. an isolated node, has no pair to learn from).

    Args:
        mode (str): ``"sage"`` or ``"margin"``. (default: ``"sage"``)
        similarity (str): ``"dot"`` or ``"cosine"``. (default: ``"dot"``)
        neg_weight (float, optional): the weight :math:`Q` of the negative term in
            ``"sage"`` mode, finite and ``> 0`` (a negative weight would pull the negatives
            closer); ``None`` uses the number of negatives. (default: ``None``)
        margin (float): the margin of ``"margin"`` mode, finite and ``>= 0``.
            (default: ``1.0``)

    Shapes:
        - **input:** anchors ``z`` :math:`(B, F)`, positives ``z_pos`` :math:`(B, P, F)` or
          :math:`(B, F)`, negatives ``z_neg`` :math:`(B, Q, F)`, optional ``pos_mask``
          :math:`(B, P)` (``False`` marks padding)
        - **output:** scalar
    """

    def __init__(self, mode: str = "sage", similarity: str = "dot",
                 neg_weight: Optional[float] = None, margin: float = 1.0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"UnsupervisedSAGELoss: mode must be one of {MODES}, got {mode!r}")
        if similarity not in SIMILARITIES:
            raise ValueError(f"UnsupervisedSAGELoss: similarity must be one of {SIMILARITIES}, "
                             f"got {similarity!r}")
        where = "UnsupervisedSAGELoss"
        if neg_weight is not None:
            check_real(where, "neg_weight", neg_weight, 0.0, include_low=False)
        check_real(where, "margin", margin, 0.0)
        self.mode = mode
        self.similarity = similarity
        self.neg_weight = neg_weight
        self.margin = margin

    def score(self, z: Tensor, z_other: Tensor) -> Tensor:
        """Pair scores of anchors ``z`` :math:`(B, F)` with ``z_other`` :math:`(B, K, F)`."""
        if self.similarity == "cosine":
            z = F.normalize(z, dim=-1)
            z_other = F.normalize(z_other, dim=-1)
        return (z.unsqueeze(1) * z_other).sum(-1)

    def forward(self, z: Tensor, z_pos: Tensor, z_neg: Tensor,
                pos_mask: Optional[Tensor] = None) -> Tensor:
        if z.dim() != 2:
            raise ValueError(f"UnsupervisedSAGELoss: anchors must be (B, F), got {tuple(z.shape)}")
        if z_pos.dim() == 2:
            z_pos = z_pos.unsqueeze(1)
        if z_neg.dim() == 2:
            z_neg = z_neg.unsqueeze(1)
        B, feat = z.shape
        for name, t in (("z_pos", z_pos), ("z_neg", z_neg)):
            if t.dim() != 3 or t.size(0) != B or t.size(2) != feat:
                raise ValueError(f"UnsupervisedSAGELoss: {name} must be (B={B}, K, F={feat}), "
                                 f"got {tuple(t.shape)}")
        if z_neg.size(1) == 0:
            raise ValueError("UnsupervisedSAGELoss: needs at least one negative per anchor")
        if pos_mask is None:
            pos_mask = torch.ones(z_pos.shape[:2], dtype=torch.bool, device=z.device)
        elif pos_mask.shape != z_pos.shape[:2]:
            raise ValueError(f"UnsupervisedSAGELoss: pos_mask must be {tuple(z_pos.shape[:2])}, "
                             f"got {tuple(pos_mask.shape)}")
        pos_mask = pos_mask.bool()
        valid = pos_mask.any(1)
        if not bool(valid.any()):
            return z.sum() * 0.0 + z_neg.sum() * 0.0  # no pair: zero loss that keeps the graph

        pos = self.score(z, z_pos)  # (B, P)
        neg = self.score(z, z_neg)  # (B, Q)
        if self.mode == "sage":
            q = float(z_neg.size(1) if self.neg_weight is None else self.neg_weight)
            pos_term = -F.logsigmoid(pos).masked_fill(~pos_mask, 0.0).sum(1)
            pos_term = pos_term / pos_mask.sum(1).clamp(min=1)
            neg_term = -q * F.logsigmoid(-neg).mean(1)
            per_anchor = pos_term + neg_term
        else:
            hardest_pos = F.logsigmoid(pos).masked_fill(~pos_mask, float("inf")).amin(1)
            hardest_neg = F.logsigmoid(neg).amax(1)
            per_anchor = (hardest_neg - hardest_pos + self.margin).clamp(min=0.0)
        return per_anchor[valid].mean()

    def __repr__(self) -> str:
        extra = f", margin={self.margin}" if self.mode == "margin" else ""
        return (f"{self.__class__.__name__}(mode={self.mode!r}, "
                f"similarity={self.similarity!r}{extra})")
