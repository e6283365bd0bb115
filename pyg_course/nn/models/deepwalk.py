r"""DeepWalk (Perozzi et al., 2014) with the API of :class:`dgl.nn.DeepWalk`, on PyG graphs."""

from __future__ import annotations

import os
from typing import Callable, Hashable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from pyg_course.nn.hierarchical_softmax import (
    WindowScores,
    huffman_paths,
    window_descent,
    window_loss,
    window_offsets,
    window_scores,
)
from pyg_course.sampling.random_walk import CSRGraph, random_walk
from pyg_course.utils.checks import check_int, check_real


class DeepWalk(nn.Module):
    r"""DeepWalk from `"DeepWalk: Online Learning of Social Representations"
    <https://arxiv.org/abs/1403.6652>`_: node embeddings learnt by skip-gram with negative
    sampling on uniform random walks. A drop-in for :class:`dgl.nn.DeepWalk` (same constructor,
    ``sample``, ``forward``, ``node_embed`` and ``reset_parameters``), built from a PyG
    :class:`~torch_geometric.data.Data` or an ``edge_index``.

    For a batch of walks :math:`w^{(1)}, \dots, w^{(B)}` of length :math:`L`, let
    :math:`P = \{(b, i, j) : 0 < |i - j| \le s\}` be the positions within ``window_size``
    :math:`s`, :math:`n_i = |\{j : 0 < |i - j| \le s\}|`, :math:`\mathbf{u}_v` the node
    embedding (``node_embed``) and :math:`\mathbf{c}_v` the context embedding of node :math:`v`.
    With :math:`\ell(x) = -\log \sigma(\mathrm{clamp}(x, -6, 6))`, :math:`K` =
    ``negative_size`` and :math:`\lambda` = ``neg_weight``, the loss is

    .. math::
        \mathcal{L} = \frac{1}{|P|} \sum_{(b,i,j) \in P}
            \ell\big(\mathbf{u}_{w^{(b)}_j}^{\top} \mathbf{c}_{w^{(b)}_i}\big)
        + K \lambda \frac{1}{|P|} \sum_{b, i} n_i \,
            \mathbb{E}_{x \sim P_n} \ell\big(-\mathbf{u}_{w^{(b)}_i}^{\top} \mathbf{c}_x\big),

    the expectation of DGL's loss (which draws :math:`K` negatives :math:`x` for each of the
    :math:`|P|` pairs). :math:`P_n` is the empirical distribution of the nodes in the batch
    (``fast_neg=True``) or :math:`\deg(v)^{0.75}` over all nodes (``fast_neg=False``). The
    expectation is estimated with ``num_negatives`` negatives shared by all positions of the
    batch: one dense ``(B L, num_negatives)`` score matrix instead of :math:`K |P|` gathered
    pairs, the same gradient in expectation, at a fraction of the memory traffic.

    At initialisation the context table is zero, so
    :math:`\mathcal{L} = \ln 2 \, (1 + K \lambda)`.

    :meth:`sgd_step` is word2vec's own update instead (what
    :func:`~pyg_course.train.train_deepwalk` uses by default): plain SGD on the *summed* loss

    .. math::
        \mathcal{S} = \sum_{b} \Big[ \sum_{0 < |i - j| \le s} \omega_{|i-j|}\,
            \ell_0\big(\mathbf{u}_{w^{(b)}_j}^{\top} \mathbf{c}_{w^{(b)}_i}\big)
        + \lambda \sum_i m_i \sum_{k=1}^{K}
            \ell_0\big(-\mathbf{u}_{w^{(b)}_i}^{\top} \mathbf{c}_{x_{b,i,k}}\big) \Big],

    with :math:`\ell_0(x) = -\log \sigma(x)`, :math:`\omega_d = (s - d + 1) / s` (word2vec's
    window shrunk uniformly at random in :math:`[1, s]`, taken in expectation),
    :math:`m_i = \sum_j \omega_{|i-j|}` and :math:`K` negatives :math:`x_{b,i,k}` drawn per
    position (``shared_negatives=False``, word2vec's draw). With ``shared_negatives=True`` (the
    default) each walk draws :math:`M` = ``walk_length`` negatives :math:`x_{b,1..M}` shared by
    all its positions, and position :math:`i` pays
    :math:`\lambda m_i \frac{K}{M} \sum_{k=1}^{M} \ell_0(-\mathbf{u}_{w^{(b)}_i}^{\top}
    \mathbf{c}_{x_{b,k}})`: the same loss in expectation, scored by one ``(L, M)`` matrix
    product per walk instead of :math:`K L` gathered rows (about half the time of a step on
    the CPU). A row that occurs once in the batch moves by :math:`-\eta` times its gradient,
    the sum of its per-pair gradients as in word2vec; a row that occurs :math:`n > 1` times
    moves by its summed gradient divided by :math:`n^{\rho}` (``repeat_damping`` :math:`\rho`):
    :math:`\rho = 1` averages the occurrences (DGL's ``avg_sgd``), which keeps hubs and small
    graphs from blowing up with the batch; :math:`\rho = 0` sums them (sequential word2vec
    makes :math:`n` steps). A walk position counts as one occurrence and a negative draw as
    :math:`1/K` (a position comes with :math:`K` draws; a shared draw counts :math:`L / M`).

    Args:
        g (Data or Tensor): a PyG ``Data`` (its ``edge_index`` and ``num_nodes``), or a
            ``(2, |E|)`` ``edge_index`` (then pass ``num_nodes``). Walks follow edges from
            ``edge_index[0]`` to ``edge_index[1]``; give both directions for an undirected graph.
        emb_dim (int): embedding size. (default: ``128``)
        walk_length (int): number of nodes in a walk, start included; at least
            ``window_size + 1`` (as in DGL). (default: ``40``)
        window_size (int): :math:`s`, the context window. (default: ``5``)
        neg_weight (float): :math:`\lambda`, finite and ``>= 0``. (default: ``1``)
        negative_size (int): :math:`K`, negatives per positive pair. (default: ``5``)
        fast_neg (bool): negatives from the batch's own walks, else from
            :math:`\deg^{0.75}` over all nodes. (default: ``True``)
        sparse (bool): sparse gradients (use :class:`torch.optim.SparseAdam`).
            (default: ``True``)
        num_nodes (int, optional): number of nodes when ``g`` is an ``edge_index``.
        walks_per_node (int): walks started from every node per epoch of :meth:`loader`.
            (default: ``1``)
        p (float), q (float): node2vec return and in-out parameters; ``1`` gives DeepWalk's
            uniform walks. (default: ``1.0``)
        num_negatives (int, optional): size of the negative pool shared by the batch; default
            ``2 * window_size * negative_size``, as many as DGL draws for one position.
        hierarchical_softmax (bool): the original DeepWalk objective instead of negative
            sampling: the context table holds the :math:`|V| - 1` inner nodes
            :math:`\boldsymbol{\theta}_n` of a Huffman tree over the nodes (weights
            :math:`\deg + 1`, :func:`~pyg_course.nn.hierarchical_softmax.huffman_paths`), and
            a pair :math:`(j, i)` costs
            :math:`\sum_{k} \ell_0\big((1 - 2 c_{ik})\, \mathbf{u}_{w_j}^{\top}
            \boldsymbol{\theta}_{p_{ik}}\big)` over the inner nodes :math:`p_{ik}` on the
            path of :math:`w_i` with branch codes :math:`c_{ik}` (word2vec's ``hs=1``);
            ``negative_size``, ``neg_weight`` and ``fast_neg`` are then unused. ``forward``
            averages it over the pairs of the window, :meth:`sgd_step` sums it with the
            weights :math:`\omega_d` (same treatment of repeated rows). (default: ``False``)
        repeat_damping (float): :math:`\rho \in [0, 1]`: :meth:`sgd_step` divides the summed
            gradient of a row that occurs :math:`n` times in a batch by :math:`n^{\rho}`.
            ``1`` averages (the safe choice on tiny graphs), ``0`` sums like sequential
            word2vec. Unused by ``forward`` and optimiser loops. (default: ``1.0``)
        shared_negatives (bool): :meth:`sgd_step` draws ``walk_length`` negatives per walk,
            shared by its positions, instead of ``negative_size`` per position. Unused by
            ``forward`` (which shares ``num_negatives`` across the batch). (default: ``True``)

    Shapes:
        - **sample:** ``(B,)`` start nodes :math:`\rightarrow` ``(B, walk_length)`` walks
        - **forward:** ``(B, walk_length)`` walks :math:`\rightarrow` scalar loss
        - **embedding():** ``(|V|, emb_dim)``

    Example (DGL's documented usage, with a PyG graph)::

        model = DeepWalk(data)
        loader = DataLoader(torch.arange(data.num_nodes), batch_size=128, shuffle=True,
                            collate_fn=model.sample)
        optimizer = SparseAdam(model.parameters(), lr=0.01)
        for batch_walk in loader:
            loss = model(batch_walk)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        X = model.node_embed.weight.detach()
    """

    def __init__(self, g, emb_dim: int = 128, walk_length: int = 40, window_size: int = 5,
                 neg_weight: float = 1, negative_size: int = 5, fast_neg: bool = True,
                 sparse: bool = True, num_nodes: Optional[int] = None, walks_per_node: int = 1,
                 p: float = 1.0, q: float = 1.0, num_negatives: Optional[int] = None,
                 hierarchical_softmax: bool = False, repeat_damping: float = 1.0,
                 shared_negatives: bool = True):
        super().__init__()
        edge_index, num_nodes = _graph_of(g, num_nodes)
        if num_negatives is None:
            num_negatives = 2 * window_size * max(negative_size, 1)
        for name, value, low in [("emb_dim", emb_dim, 1), ("walk_length", walk_length, 2),
                                 ("window_size", window_size, 1),
                                 ("negative_size", negative_size, 0),
                                 ("walks_per_node", walks_per_node, 1),
                                 ("num_negatives", num_negatives, 1)]:
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"DeepWalk: {name} must be an integer >= {low}, got {value}")
        if walk_length < window_size + 1:  # DGL's constraint: a walk holds a whole window
            raise ValueError(f"DeepWalk: walk_length must be >= window_size + 1, got "
                             f"walk_length={walk_length} and window_size={window_size}")
        check_real("DeepWalk", "neg_weight", neg_weight, 0.0)
        if not 0.0 <= float(repeat_damping) <= 1.0:
            raise ValueError(f"DeepWalk: repeat_damping must be in [0, 1], got {repeat_damping}")
        if not (p > 0 and q > 0):
            raise ValueError(f"DeepWalk: p and q must be > 0, got p={p}, q={q}")
        self.num_nodes = num_nodes
        self.emb_dim = int(emb_dim)
        self.walk_length = int(walk_length)
        self.window_size = int(window_size)
        self.neg_weight = neg_weight
        self.negative_size = int(negative_size)
        self.fast_neg = fast_neg
        self.sparse = sparse
        self.walks_per_node = int(walks_per_node)
        self.p, self.q = float(p), float(q)
        self.num_negatives = int(num_negatives)
        self.hierarchical_softmax = bool(hierarchical_softmax)
        self.repeat_damping = float(repeat_damping)
        self.shared_negatives = bool(shared_negatives)

        self._cache: dict = {}  # tensors derived from the settings, see _cached
        self.node_embed = nn.Embedding(num_nodes, self.emb_dim, sparse=sparse)
        self.context_embed = nn.Embedding(num_nodes, self.emb_dim, sparse=sparse)
        # The graph lives with the tables; _apply moves it along.
        self.graph = CSRGraph(edge_index, num_nodes).to(self.device)
        if not fast_neg:
            prob = self.graph.deg.double().pow(0.75)
            if prob.sum() == 0:
                prob = torch.ones_like(prob)
            self.register_buffer("neg_prob", (prob / prob.sum()).float(), persistent=False)
        # n_i: number of positions within the window of position i in a walk.
        pos = torch.arange(self.walk_length)
        n = (pos.clamp(max=self.window_size)
             + (self.walk_length - 1 - pos).clamp(max=self.window_size)).float()
        self.register_buffer("_pairs_per_position", n, persistent=False)
        dist = (pos.view(-1, 1) - pos.view(1, -1)).abs()
        self.register_buffer("_band", (dist > 0) & (dist <= self.window_size), persistent=False)
        if self.hierarchical_softmax:
            # A walk visits a node about in proportion to its degree (+1: its own starts).
            path, code, mask = huffman_paths(self.graph.deg.double() + 1)
            self.register_buffer("_hs_path", path, persistent=False)
            self.register_buffer("_hs_label", (1 - code).float() * mask, persistent=False)
            self.register_buffer("_hs_mask", mask.float(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        r"""Node table uniform in :math:`\pm 1/d`, context table zero (word2vec's init)."""
        bound = 1.0 / self.emb_dim
        nn.init.uniform_(self.node_embed.weight, -bound, bound)
        nn.init.zeros_(self.context_embed.weight)

    @property
    def device(self) -> torch.device:
        return self.node_embed.weight.device

    def _apply(self, fn, *args, **kwargs):
        # .to(), .cuda(), .double(), ...: the graph follows the tables, the caches are rebuilt.
        self._cache.clear()
        module = super()._apply(fn, *args, **kwargs)
        self.graph = self.graph.to(self.device)
        return module

    def _cached(self, key: Hashable, build: Callable[[], Tensor]) -> Tensor:
        """``build()``, computed on first use and kept until the module moves or changes dtype
        (:meth:`_apply` clears the cache)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def sample(self, indices: Union[Tensor, Sequence]) -> Tensor:
        r"""One random walk of ``walk_length`` nodes from each node of ``indices`` (an integer
        tensor, or the list a :class:`~torch.utils.data.DataLoader` hands to ``collate_fn``), on
        the module's device. Nodes without out-edges keep the walk in place. Non-integer ids
        (a float tensor or list) are rejected, not truncated."""
        if isinstance(indices, Tensor):
            start = indices.view(-1)
        elif len(indices) > 0 and all(isinstance(i, Tensor) for i in indices):
            start = torch.stack([i.view(()) for i in indices])
        else:
            items = list(indices)
            # Without a dtype, [0.7, 1.2] stays float and is rejected like a float tensor.
            start = torch.as_tensor(items) if items else torch.empty(0, dtype=torch.long)
        return random_walk(self.graph, start, self.walk_length - 1, p=self.p, q=self.q)

    def loader(self, **kwargs) -> DataLoader:
        r"""A :class:`~torch.utils.data.DataLoader` over every node ``walks_per_node`` times
        (``batch_size=128, shuffle=True`` unless given), yielding walks from :meth:`sample`."""
        kwargs.setdefault("batch_size", 128)
        kwargs.setdefault("shuffle", True)
        nodes = torch.arange(self.num_nodes).repeat(self.walks_per_node)
        return DataLoader(nodes, collate_fn=self.sample, **kwargs)

    def _walks(self, batch_walk: Tensor, where: str) -> Tensor:
        """``batch_walk`` checked (a non-empty ``(B, walk_length)`` integer tensor of node ids)
        and moved to the module's device as int64."""
        L = self.walk_length
        if not isinstance(batch_walk, Tensor) or batch_walk.dim() != 2 \
                or batch_walk.size(1) != L:
            shape = tuple(batch_walk.shape) if isinstance(batch_walk, Tensor) else None
            raise ValueError(f"{where}: batch_walk must have shape (batch_size, {L}), got "
                             f"{shape}")
        if batch_walk.is_floating_point() or batch_walk.is_complex() \
                or batch_walk.dtype == torch.bool:
            raise TypeError(f"{where}: batch_walk must hold integer node ids, got "
                            f"{batch_walk.dtype}")
        if batch_walk.size(0) == 0:
            raise ValueError(f"{where}: batch_walk is empty (0 walks): the loss of no walk is "
                             f"undefined")
        walks = batch_walk.to(self.device, torch.long)
        lo, hi = torch.stack(walks.aminmax()).tolist()
        if lo < 0 or hi >= self.num_nodes:
            raise IndexError(f"{where}: batch_walk holds node ids outside "
                             f"[0, {self.num_nodes}) (min {lo}, max {hi})")
        return walks

    def forward(self, batch_walk: Tensor) -> Tensor:
        r"""Skip-gram negative-sampling loss of a non-empty ``(B, walk_length)`` integer batch
        of walks."""
        walks = self._walks(batch_walk, "DeepWalk")
        B, L, D = walks.size(0), self.walk_length, self.emb_dim
        u = self.node_embed(walks)
        if self.hierarchical_softmax:
            loss = window_loss(self._hs_scores(walks, u, self.context_embed, weighted=False))
            return loss / (B * self._band.sum())
        c = self.context_embed(walks)

        # All (j, i) scores of a walk at once, then the band 0 < |i - j| <= window_size.
        pos = torch.bmm(u, c.transpose(1, 2))[:, self._band].clamp(-6, 6)
        loss = -F.logsigmoid(pos).mean()
        if self.negative_size == 0 or self.neg_weight == 0:
            return loss

        if self.fast_neg:
            cols = torch.randint(B * L, (self.num_negatives,), device=self.device)
            neg_c = c.reshape(-1, D)[cols]
        else:
            nodes = torch.multinomial(self.neg_prob, self.num_negatives, replacement=True)
            neg_c = self.context_embed(nodes)
        neg = (u.reshape(-1, D) @ neg_c.t()).clamp(-6, 6)
        per_position = -F.logsigmoid(-neg).mean(1).view(B, L)
        n = self._pairs_per_position
        neg_loss = (per_position * n).sum(1).mean() / n.sum()
        return loss + self.negative_size * self.neg_weight * neg_loss

    def _draw_negatives(self, walks: Tensor, count: int) -> Tensor:
        if self.fast_neg:
            flat = walks.reshape(-1)
            return flat[torch.randint(flat.numel(), (count,), device=flat.device)]
        cdf = self._cached("neg_cdf", self._negative_cdf)
        r = torch.rand(count, device=self.device)
        return torch.searchsorted(cdf, r).clamp_(max=self.num_nodes - 1)

    def _negative_cdf(self) -> Tensor:
        cdf = self.neg_prob.double().cumsum(0)
        return (cdf / cdf[-1]).float()

    def _window_weights(self) -> Tensor:
        r"""``(L, L)`` float64 weights :math:`\omega_{|i-j|}` of the pairs of a walk."""
        return self._cached("omega", self._build_window_weights)

    def _build_window_weights(self) -> Tensor:
        pos = torch.arange(self.walk_length, device=self.device)
        d = (pos.view(-1, 1) - pos.view(1, -1)).abs()
        return ((self.window_size - d + 1).clamp(min=0).double() / self.window_size
                ) * ((d > 0) & (d <= self.window_size))

    def _window_offsets(self, weighted: bool) -> Tensor:
        r"""``(L, 2 s + 1)`` pair weights by offset (:func:`window_offsets`) of
        :meth:`_window_weights` (``weighted``) or ``_band`` (1 inside the window)."""
        return self._cached(("offsets", weighted), lambda: window_offsets(
            self._window_weights() if weighted else self._band.double(), self.window_size))

    def _hs_scores(self, walks: Tensor, u: Tensor, context, weighted: bool) -> WindowScores:
        """:func:`window_scores` of ``walks`` with input vectors ``u`` against this model's
        tree, pairs weighted by :meth:`_window_offsets`."""
        return window_scores(walks, u, context, self._hs_path, self._hs_label, self._hs_mask,
                             self._window_offsets(weighted), self.window_size)

    @torch.no_grad()
    def _hs_sgd_step(self, walks: Tensor, lr: float) -> Tensor:
        U, C = self.node_embed.weight, self.context_embed.weight
        B, L, D = walks.size(0), self.walk_length, self.emb_dim
        rho = self.repeat_damping
        flat = walks.reshape(-1)
        u = U[flat].view(B, L, D)
        scores = self._hs_scores(walks, u, lambda idx: C[idx], weighted=True)
        loss = window_loss(scores)
        grad_u, grad_theta = window_descent(scores, L)
        _average_add(U, flat, grad_u.reshape(-1, D), lr, power=rho)
        keep = scores.mask.reshape(-1) > 0
        _average_add(C, scores.path.reshape(-1)[keep], grad_theta.view(-1, D)[keep], lr,
                     power=rho)
        return loss / (B * self._window_weights().sum())

    @torch.no_grad()
    def sgd_step(self, batch_walk: Tensor, lr: float,
                 negatives: Optional[Tensor] = None) -> Tensor:
        r"""One word2vec update on a non-empty ``(B, walk_length)`` batch of walks: subtract
        ``lr`` (finite, ``>= 0``; ``0`` only evaluates the loss) times the gradient of the
        summed loss :math:`\mathcal{S}` (class docstring; a row occurring :math:`n` times
        divides its summed gradient by :math:`n^{\rho}`) from both tables, in place, without
        autograd. ``negatives`` replaces the draw (for tests): node ids of shape
        ``(B, walk_length, negative_size)`` (per position) or ``(B, M)`` (shared by the
        positions of each walk). Returns :math:`\mathcal{S}` divided by the number of weighted
        pairs (comparable across batch sizes)."""
        L = self.walk_length
        walks = self._walks(batch_walk, "DeepWalk.sgd_step")
        # lr = 0 evaluates the loss without moving the tables.
        check_real("DeepWalk.sgd_step", "lr", lr, 0.0)
        if self.hierarchical_softmax:
            return self._hs_sgd_step(walks, lr)
        U, C = self.node_embed.weight, self.context_embed.weight
        B, D, K = walks.size(0), self.emb_dim, self.negative_size
        rho, lam = self.repeat_damping, float(self.neg_weight)
        flat = walks.reshape(-1)
        u = U[flat].view(B, L, D)
        omega = self._window_weights().to(u.dtype)  # cached in float64
        if K > 0 and lam > 0 and negatives is None:
            negatives = (self._draw_negatives(walks, B * L).view(B, L) if self.shared_negatives
                         else self._draw_negatives(walks, B * L * K).view(B, L, K))
        if K == 0 or lam == 0:
            negatives = walks.new_empty(B, 0)
        negatives = negatives.to(self.device, torch.long)
        m = omega.sum(1) * lam                                           # (L,)
        if negatives.dim() == 2 and negatives.size(0) == B:
            # The walk's own positions (targets, label 1) and its M shared negatives (label 0)
            # as the columns of one score matrix per walk: three matrix products in all.
            M = negatives.size(1)
            cols = torch.cat([walks, negatives], 1)                      # (B, L + M)
            x = C[cols.reshape(-1)].view(B, L + M, D)
            weight = torch.cat([omega, (m * (K / max(M, 1))).view(L, 1).expand(L, M)], 1)
            label = torch.cat([omega.new_ones(L), omega.new_zeros(M)])
            score = torch.bmm(u, x.transpose(1, 2))                      # [b, j, col]
            loss = (F.softplus(score - 2 * label * score) * weight).sum()  # -log sigma(+-s)
            g = torch.sigmoid(score).neg_().add_(label).mul_(weight)    # -dS/dscore
            grad_u = torch.bmm(g, x)
            grad_x = torch.bmm(g.transpose(1, 2), u).view(-1, D)
            _average_add(U, flat, grad_u.view(-1, D), lr, power=rho)
            # A position counts one occurrence; the M draws of a walk count L together.
            units = torch.cat([omega.new_ones(L), omega.new_full((M,), L / max(M, 1))])
            _average_add(C, cols.reshape(-1), grad_x, lr, units.repeat(B), power=rho)
            return loss / (B * omega.sum())
        if negatives.shape != (B, L, K):
            raise ValueError(f"DeepWalk.sgd_step: negatives must have shape ({B}, {L}, {K}) "
                             f"or ({B}, M), got {tuple(negatives.shape)}")
        c = C[flat].view(B, L, D)
        score = torch.bmm(u, c.transpose(1, 2))                         # [b, j, i] = u_j . c_i
        loss = (-F.logsigmoid(score) * omega).sum()
        g = torch.sigmoid(score).neg_().add_(1).mul_(omega)             # -dS/dscore
        grad_u = torch.bmm(g, c)
        grad_c = torch.bmm(g.transpose(1, 2), u)
        neg = negatives.reshape(-1)
        cn = C[neg].view(B, L, K, D)
        neg_score = torch.einsum("bld,blkd->blk", u, cn)
        loss = loss + (-F.logsigmoid(-neg_score) * m.view(1, L, 1)).sum()
        gn = torch.sigmoid(neg_score).neg_().mul_(m.view(1, L, 1))       # -dS/dneg_score
        grad_u += torch.einsum("blk,blkd->bld", gn, cn)
        grad_neg = (gn.unsqueeze(-1) * u.unsqueeze(2)).view(-1, D)
        _average_add(U, flat, grad_u.view(-1, D), lr, power=rho)
        # A position counts one occurrence; its K negative draws count one together.
        units = torch.cat([torch.ones_like(flat, dtype=u.dtype),
                           torch.full_like(neg, 1.0 / K, dtype=u.dtype)])
        _average_add(C, torch.cat([flat, neg]), torch.cat([grad_c.view(-1, D), grad_neg]), lr,
                     units, power=rho)
        return loss / (B * omega.sum())

    @torch.no_grad()
    def embedding(self) -> Tensor:
        """The learnt node embeddings, ``(|V|, emb_dim)``, detached."""
        return self.node_embed.weight.detach().clone()

    def save_embedding(self, path: Union[str, os.PathLike]) -> None:
        """Write :meth:`embedding` to ``path``: NumPy ``.npy`` or torch ``.pt`` by suffix."""
        path = os.fspath(path)
        emb = self.embedding().cpu()
        if path.endswith(".npy"):
            np.save(path, emb.numpy())
        elif path.endswith(".pt"):
            torch.save(emb, path)
        else:
            raise ValueError(f"DeepWalk.save_embedding: path must end in .npy or .pt, got {path!r}")

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_nodes}, emb_dim={self.emb_dim}, "
                f"walk_length={self.walk_length}, window_size={self.window_size})")


def _average_add(table: Tensor, index: Tensor, grad: Tensor, lr: float,
                 units: Optional[Tensor] = None, power: float = 1.0) -> None:
    """``table[v] += lr * (sum of the rows of grad at index == v) / max(1, n_v) ** power``,
    with ``n_v`` the number of occurrences of ``v`` in ``index`` (each weighted by ``units``).
    Scales ``grad`` in place (callers pass temporaries): one ``index_add_`` of the rows, no
    sort."""
    if power != 0.0:
        counts = torch.zeros(table.size(0), dtype=grad.dtype, device=grad.device)
        counts.index_add_(0, index, torch.ones_like(index, dtype=grad.dtype)
                          if units is None else units)
        grad.mul_(counts[index].clamp_(min=1).pow_(-power).unsqueeze(1))
    table.index_add_(0, index, grad, alpha=lr)


def _graph_of(g, num_nodes: Optional[int]):
    if isinstance(g, Tensor):
        edge_index = g
        if num_nodes is None:
            num_nodes = int(g.max()) + 1 if g.dim() == 2 and g.numel() > 0 else 0
    elif hasattr(g, "edge_index") and hasattr(g, "num_nodes"):
        edge_index = g.edge_index
        if num_nodes is None:
            num_nodes = g.num_nodes
    else:
        raise TypeError(f"DeepWalk: g must be a PyG Data or an edge_index Tensor, got "
                        f"{type(g).__name__}")
    if edge_index is None:
        raise ValueError("DeepWalk: the graph has no edge_index")
    if num_nodes is not None:
        num_nodes = check_int("DeepWalk", "num_nodes", num_nodes, 0)
    if num_nodes is None or num_nodes < 1:
        raise ValueError(f"DeepWalk: the graph needs at least one node (num_nodes={num_nodes})")
    return edge_index, num_nodes
