r"""
1. Message passing: message, aggregate, update
==============================================

Every layer in :mod:`pyg_course.nn` computes a node's new features from its own features
and those of its neighbours in three steps:

.. math::
   \mathbf{m}_{j \to i} = \phi(\mathbf{x}_j, e_{j,i}) \quad\text{(message)}, \qquad
   \mathbf{a}_i = \bigoplus_{j \in \mathcal{N}(i)} \mathbf{m}_{j \to i}
   \quad\text{(aggregate)}, \qquad
   \mathbf{x}'_i = \gamma(\mathbf{x}_i, \mathbf{a}_i) \quad\text{(update)}

where :math:`\mathcal{N}(i)` are the nodes with an edge :math:`j \to i`, :math:`e_{j,i}`
the edge's weight, and :math:`\bigoplus` a function of a *set* (sum, mean, max, ...) so that
the result does not depend on the order in which the neighbours are stored. GCN, GraphSAGE
and GAT differ only in their choice of :math:`\phi`, :math:`\bigoplus` and :math:`\gamma`.

This tutorial writes one layer three times — with plain tensor operations, as a PyG
``MessagePassing`` subclass, and as a setting of :class:`pyg_course.nn.GeneralConv` — and
ends with GCN as another setting of the same layer. It runs in a second and asserts every
claim below (the documentation build runs it, so this page cannot drift from the code).
"""

import torch
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import scatter

from pyg_course.nn import GCNConv, GeneralConv

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)  # exact comparisons below

# %%
# The graph
# ---------
#
# PyG stores a graph as ``edge_index``, a ``(2, |E|)`` tensor whose columns are edges
# :math:`j \to i`: row 0 holds the sources :math:`j`, row 1 the targets :math:`i`. An
# undirected edge is stored twice, once in each direction. We use a small directed graph in
# which node 4 receives no message (it has no in-edges), and float64 so that the comparisons
# below can be exact up to rounding:

# a 5-node directed graph: row 0 = source j, row 1 = target i (messages flow j -> i)
edge_index = torch.tensor([[0, 1, 1, 2, 3, 4, 0],
                           [1, 0, 2, 1, 1, 3, 3]])
x = torch.randn(5, 3)

# %%
# Three tensor operations
# -----------------------
#
# The layer we build is :math:`\mathbf{x}'_i = \mathbf{W}_{\mathrm{upd}} [\mathbf{x}_i \,\|\,
# \sum_{j \to i} \mathbf{W}_{\mathrm{msg}} \mathbf{x}_j]`. Each step is one line: *message*
# gathers the source row of every edge (``x[src]``, one row per edge) and transforms it;
# *aggregate* sums the rows that share a target with ``index_add_`` (a *scatter*); *update*
# concatenates each node's own features with its sum and applies a linear map.

W_msg = torch.randn(4, 3)   # phi(x) = W_msg x
W_upd = torch.randn(4, 3 + 4)  # x'_i = W_upd [x_i || a_i]

src, dst = edge_index
messages = x[src] @ W_msg.T                                   # message:   one row per edge
aggregated = torch.zeros(5, 4).index_add_(0, dst, messages)   # aggregate: sum at each target
by_hand = torch.cat([x, aggregated], dim=-1) @ W_upd.T         # update:    combine with x_i
print("aggregated messages (node 4 has no in-edges, so its row is 0):\n", aggregated)
assert torch.equal(aggregated[4], torch.zeros(4))

# %%
# No loop over nodes and no dense :math:`|V| \times |V|` matrix: the cost is
# :math:`O(|E| \cdot F)`, which is what makes message passing scale to large sparse graphs.
#
# A ``MessagePassing`` subclass
# -----------------------------
#
# PyG's :class:`~torch_geometric.nn.conv.MessagePassing` runs the same three steps when you
# call ``propagate``. It inspects the signature of ``message``: an argument named
# ``x_j`` receives ``x`` gathered at the source of every edge (``x_i`` would gather at the
# target). ``aggregate`` gets the messages and ``index``, the target of every edge;
# ``update`` gets the aggregated rows plus any keyword argument given to ``propagate``.


class ScratchConv(MessagePassing):
    """x'_i = W_upd [x_i || sum_{j -> i} W_msg x_j]"""

    def __init__(self, in_channels, out_channels):
        super().__init__(aggr="sum")
        self.lin_msg = torch.nn.Linear(in_channels, out_channels, bias=False)
        self.lin_upd = torch.nn.Linear(in_channels + out_channels, out_channels, bias=False)

    def forward(self, x, edge_index):
        # propagate() calls message -> aggregate -> update; keyword arguments reach each
        # method by name, and a "_j" suffix means "gathered at the source node of each edge".
        return self.propagate(edge_index, x=self.lin_msg(x), x_self=x)

    def message(self, x_j):
        return x_j

    def aggregate(self, inputs, index, ptr=None, dim_size=None):
        return scatter(inputs, index, dim=0, dim_size=dim_size, reduce="sum")

    def update(self, inputs, x_self):
        return self.lin_upd(torch.cat([x_self, inputs], dim=-1))


scratch = ScratchConv(3, 4)
with torch.no_grad():
    scratch.lin_msg.weight.copy_(W_msg)
    scratch.lin_upd.weight.copy_(W_upd)
out_scratch = scratch(x, edge_index)
assert torch.allclose(out_scratch, by_hand)
print("ScratchConv == the three tensor operations")

# %%
# The layers of this package are written the same way: :class:`pyg_course.nn.GCNConv` has a
# ``message`` that scales by the normalised edge weight, an
# ``aggregate`` that sums and an ``update`` that adds the bias. They also define
# ``message_and_aggregate``, which PyG calls instead of the first two when the graph is given
# as a sparse matrix: message plus sum-aggregation is then one sparse-dense matrix product,
# :math:`\mathbf{A}\,\phi(\mathbf{X})`.
#
# The same layer as ``GeneralConv``
# ---------------------------------
#
# :class:`pyg_course.nn.GeneralConv` exposes the three choices as arguments: ``message``
# (``'linear'`` or ``'identity'``), ``aggr`` (``'sum'``, ``'mean'``, ``'max'``) and ``combine``
# (``'concat'``, ``'add'``, ``'none'``). With the weights copied over, it computes exactly
# what we wrote by hand; switching ``aggr`` to ``'mean'`` changes only the aggregation:

general = GeneralConv(3, 4, message="linear", aggr="sum", combine="concat", bias=False)
print(general)
with torch.no_grad():
    general.lin_msg.weight.copy_(W_msg)
    general.lin_upd.weight.copy_(W_upd)
assert torch.allclose(general(x, edge_index), by_hand)
print("GeneralConv(message='linear', aggr='sum', combine='concat') == ScratchConv")

# Changing one argument changes one step: mean instead of sum divides each aggregated row by
# the in-degree (nodes without in-edges keep 0).
mean_conv = GeneralConv(3, 4, message="linear", aggr="mean", combine="concat", bias=False)
mean_conv.load_state_dict(general.state_dict())
in_degree = torch.bincount(dst, minlength=5).clamp(min=1).view(-1, 1)
expected = torch.cat([x, aggregated / in_degree], dim=-1) @ W_upd.T
assert torch.allclose(mean_conv(x, edge_index), expected)
print("aggr='mean' == sum / in-degree")

# %%
# GCN as a special case
# ---------------------
#
# Kipf and Welling's GCN uses a linear message weighted by
# :math:`1/\sqrt{\hat d_j \hat d_i}` (the degrees of the graph with self-loops), a sum, and no
# separate combination with :math:`\mathbf{x}_i` — the self-loop already brings the node's own
# features into the sum. That is ``GeneralConv(message='linear', aggr='sum', combine='none',
# normalize=True)``, and it agrees with :class:`pyg_course.nn.GCNConv` and with the dense
# formula :math:`\hat{\mathbf{D}}^{-1/2}(\mathbf{A}+\mathbf{I})\hat{\mathbf{D}}^{-1/2}
# \mathbf{X}\mathbf{W}^\top + \mathbf{b}`:

gcn_like = GeneralConv(3, 4, message="linear", aggr="sum", combine="none", normalize=True)
gcn = GCNConv(3, 4)
with torch.no_grad():
    gcn.lin.weight.copy_(gcn_like.lin_msg.weight)
    gcn.bias.copy_(torch.randn(4))
    gcn_like.bias.copy_(gcn.bias)
assert torch.allclose(gcn_like(x, edge_index), gcn(x, edge_index))
print("GeneralConv(..., combine='none', normalize=True) == GCNConv")

# GCN's message carries the normalised edge weight 1 / sqrt(d_j d_i) on the graph with
# self-loops: in matrix form, X' = D^-1/2 (A + I) D^-1/2 X W^T + b with A[i, j] = 1 for j -> i.
A_hat = torch.zeros(5, 5)
A_hat[dst, src] = 1.0
A_hat += torch.eye(5)
d = A_hat.sum(dim=1)
A_sym = A_hat / torch.sqrt(d.view(-1, 1) * d.view(1, -1))
W, b = gcn.lin.weight, gcn.bias
assert torch.allclose(gcn(x, edge_index), A_sym @ x @ W.T + b)
print("GCNConv(X) == D^-1/2 (A + I) D^-1/2 X W^T + b   (dense check)")

# %%
# GraphSAGE with the mean aggregator is another setting (``message='identity',
# aggr='mean', combine='concat'``); :doc:`graphsage` treats it in full. The next tutorial,
# :doc:`gcn`, looks at the normalisation itself.
#
# Running it
# ----------
#
# .. code-block:: bash
#
#    .venv/bin/python docs/tutorials_source/message_passing.py
#
# prints the aggregated messages (node 4's row is zero) and one line per verified claim, as
# shown above.
