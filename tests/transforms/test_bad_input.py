"""Every structural transform rejects a bad ``edge_index`` with an error naming the problem.

Before these checks an index past ``num_nodes`` corrupted the heap inside ``cycle_counts``
(the process aborted) and a negative one gave silently wrong counts.
"""

import pytest
import torch
from torch_geometric.data import Data

from pyg_course.transforms import (
    ClusteringCoefficient,
    CycleCounts,
    KHopVirtualEdges,
    PageRank,
    VirtualNode,
    clustering_coefficient,
    cycle_counts,
    khop_virtual_edges,
    pagerank,
)

N = 3
BAD = {
    "out of range": (torch.tensor([[0, 1, 2, 7], [1, 2, 0, 0]]), IndexError,
                     "source node 7 but there are only 3"),
    "negative": (torch.tensor([[0, 1, 2], [1, 2, -1]]), IndexError, r"negative node index \(-1\)"),
    "shape": (torch.zeros(3, 3, dtype=torch.long), ValueError, r"shape \(2, num_edges\)"),
    "dtype": (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), TypeError, "torch.long"),
}
FUNCTIONS = {
    "pagerank": lambda ei: pagerank(ei, N),
    "cycle_counts": lambda ei: cycle_counts(ei, N),
    "clustering_coefficient": lambda ei: clustering_coefficient(ei, N),
    "khop_virtual_edges": lambda ei: khop_virtual_edges(ei, N, k=2),
}
TRANSFORMS = {
    "PageRank": (PageRank(), "pagerank"),
    "CycleCounts": (CycleCounts(), "cycle_counts"),
    "ClusteringCoefficient": (ClusteringCoefficient(), "clustering_coefficient"),
    "KHopVirtualEdges": (KHopVirtualEdges(k=2), "khop_virtual_edges"),
    "VirtualNode": (VirtualNode(), "VirtualNode"),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_reject_bad_edge_index(name, bad):
    ei, error, message = BAD[bad]
    with pytest.raises(error, match=f"{name}: .*{message}"):
        FUNCTIONS[name](ei)


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("name", TRANSFORMS)
def test_transforms_reject_bad_edge_index(name, bad):
    ei, error, message = BAD[bad]
    transform, where = TRANSFORMS[name]
    data = Data(x=torch.randn(N, 2), edge_index=ei, num_nodes=N)
    with pytest.raises(error, match=f"{where}: .*{message}"):
        transform(data)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_accept_the_same_graph_when_valid(name):
    """The checks reject only what is wrong: the valid part of the graphs above goes through."""
    FUNCTIONS[name](torch.tensor([[0, 1, 2], [1, 2, 0]]))
