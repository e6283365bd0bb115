r"""Positive pairs of unsupervised GraphSAGE: nodes that co-occur with an anchor on short
random walks from it (Hamilton et al., 2017), drawn for a whole batch at once on the graph's
device with :func:`~pyg_course.sampling.random_walk`.

For anchor :math:`u`, ``num_walks`` walks of ``walk_length`` steps start at :math:`u`; every
node they visit other than :math:`u` itself forms a positive pair :math:`(u, v)`. A node visited
several times gives several pairs, so frequent co-occurrence weighs more, as in the original
pair lists. An isolated node's walks stay in place and give no pair (its mask row is all
``False``).
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from pyg_course.sampling.checks import check_csr_graph, node_ids
from pyg_course.sampling.random_walk import CSRGraph, random_walk
from pyg_course.utils.checks import check_int, check_real


class WalkPositiveSampler:
    r"""Random-walk co-occurrence positives (see the module docstring).

    Args:
        edge_index (Tensor or CSRGraph): :math:`(2, |E|)` edges (both directions for an
            undirected graph), or a prebuilt :class:`~pyg_course.sampling.CSRGraph`.
        num_nodes (int, optional): :math:`|V|` (must agree with a ``CSRGraph``).
        num_walks (int): walks per anchor. (default: ``10``)
        walk_length (int): steps per walk. (default: ``5``)
        p, q (float): node2vec bias of the walks, finite and ``> 0``. (default: ``1.0``)
        generator (torch.Generator, optional): source of randomness.
    """

    def __init__(self, edge_index: Union[Tensor, CSRGraph], num_nodes: Optional[int] = None,
                 num_walks: int = 10, walk_length: int = 5, p: float = 1.0, q: float = 1.0,
                 generator: Optional[torch.Generator] = None):
        where = "WalkPositiveSampler"
        self.num_walks = check_int(where, "num_walks", num_walks)
        self.walk_length = check_int(where, "walk_length", walk_length)
        check_real(where, "p", p, 0.0, include_low=False)
        check_real(where, "q", q, 0.0, include_low=False)
        if isinstance(edge_index, CSRGraph):
            check_csr_graph(edge_index, num_nodes, where, min_nodes=0)
            self.graph = edge_index
        else:
            self.graph = CSRGraph(edge_index, num_nodes)
        self.p, self.q = p, q
        self.generator = generator

    def walks(self, nodes: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Every co-occurrence of ``nodes``: ``(pos, mask)``, both :math:`(B, W \cdot L)`
        (``W = num_walks``, ``L = walk_length``); ``pos[i]`` lists the nodes visited by the walks
        of ``nodes[i]`` after their start, ``mask`` is ``False`` where that is ``nodes[i]``."""
        nodes = node_ids(nodes, self.graph.num_nodes, self.graph.device,
                         "WalkPositiveSampler.walks")
        start = nodes.repeat_interleave(self.num_walks)
        w = random_walk(self.graph, start, self.walk_length, p=self.p, q=self.q,
                        generator=self.generator)
        pos = w[:, 1:].reshape(nodes.numel(), self.num_walks * self.walk_length)
        return pos, pos != nodes.unsqueeze(1)

    def sample(self, nodes: Tensor, num_positives: int) -> Tuple[Tensor, Tensor]:
        r"""``num_positives`` pairs per anchor drawn uniformly (with replacement) from its
        co-occurrences: ``(pos, mask)`` of shape :math:`(B, P)`; a row without any
        co-occurrence (e.g. an isolated node) holds the anchor itself with ``mask`` ``False``."""
        num_positives = check_int("WalkPositiveSampler.sample", "num_positives", num_positives)
        cooc, valid = self.walks(nodes)
        has = valid.any(1)
        weight = torch.where(has.unsqueeze(1), valid.float(), torch.ones_like(valid.float()))
        if cooc.size(0) == 0:
            empty = cooc.new_empty(0, num_positives)
            return empty, empty.bool()
        idx = torch.multinomial(weight, num_positives, replacement=True,
                                generator=self.generator)
        pos = cooc.gather(1, idx)
        return pos, valid.gather(1, idx) & has.unsqueeze(1)


def walk_positives(edge_index: Union[Tensor, CSRGraph], nodes: Tensor, num_walks: int,
                   walk_length: int, num_nodes: Optional[int] = None, p: float = 1.0,
                   q: float = 1.0, generator: Optional[torch.Generator] = None
                   ) -> Tuple[Tensor, Tensor]:
    r"""All random-walk co-occurrences of ``nodes`` (:meth:`WalkPositiveSampler.walks`):
    ``(pos, mask)`` of shape :math:`(|nodes|, \text{num\_walks} \cdot \text{walk\_length})`,
    the positive pairs being ``(nodes[i], pos[i, j])`` where ``mask[i, j]``."""
    return WalkPositiveSampler(edge_index, num_nodes, num_walks, walk_length, p, q,
                               generator).walks(nodes)
