"""Tutorial 1: message passing in three methods -- message, aggregate, update.

Run: python docs/tutorials/code/message_passing.py   (a second, no data needed)
"""

import torch
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import scatter

from pyg_course.nn import GCNConv, GeneralConv

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)  # exact comparisons below

# --- a 5-node directed graph: row 0 = source j, row 1 = target i (messages flow j -> i) ---
edge_index = torch.tensor([[0, 1, 1, 2, 3, 4, 0],
                           [1, 0, 2, 1, 1, 3, 3]])
x = torch.randn(5, 3)

# --- step 0: the three steps with plain tensor operations -------------------------------
W_msg = torch.randn(4, 3)   # phi(x) = W_msg x
W_upd = torch.randn(4, 3 + 4)  # x'_i = W_upd [x_i || a_i]

src, dst = edge_index
messages = x[src] @ W_msg.T                                   # message:   one row per edge
aggregated = torch.zeros(5, 4).index_add_(0, dst, messages)   # aggregate: sum at each target
by_hand = torch.cat([x, aggregated], dim=-1) @ W_upd.T         # update:    combine with x_i
print("aggregated messages (node 4 has no in-edges, so its row is 0):\n", aggregated)
assert torch.equal(aggregated[4], torch.zeros(4))


# --- step 1: the same layer as a PyG MessagePassing subclass ------------------------------
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

# --- step 2: the same layer is one setting of pyg_course.nn.GeneralConv -------------------
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

# --- step 3: GCN is the setting message='linear', aggr='sum', combine='none', normalize=True
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
