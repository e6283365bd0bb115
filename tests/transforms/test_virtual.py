"""Virtual node (all nodes or a set) and capped k-hop virtual edges on hand-checked graphs."""

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import TwoHop
from torch_geometric.utils import coalesce, to_undirected

from pyg_course.transforms import KHopVirtualEdges, VirtualNode, khop_virtual_edges


def _path(n=5):
    ei = to_undirected(torch.stack([torch.arange(n - 1), torch.arange(1, n)]))
    return Data(x=torch.randn(n, 2), edge_index=ei, y=torch.arange(n),
                train_mask=torch.ones(n, dtype=torch.bool), num_nodes=n)


def _pairs(ei):
    return set(map(tuple, ei.t().tolist()))


def test_virtual_node_all_and_subset():
    d = _path(5)
    out = VirtualNode()(d)
    assert out.num_nodes == 6 and out.x.shape == (6, 2) and not bool(out.train_mask[5])
    assert out.edge_index.size(1) == 8 + 10
    sub = VirtualNode(nodes=torch.tensor([0, 4]))(d)
    new = sub.edge_index[:, sub.edge_type > 0]
    assert _pairs(new) == {(0, 5), (4, 5), (5, 0), (5, 4)}
    assert sub.edge_type.size(0) == sub.edge_index.size(1) == 12
    mask = torch.tensor([True, False, True, False, False])
    assert _pairs(VirtualNode(nodes=mask)(d).edge_index[:, 8:]) == {(0, 5), (2, 5), (5, 0),
                                                                    (5, 2)}
    with pytest.raises(ValueError, match="shape"):
        VirtualNode(nodes=torch.ones(3, dtype=torch.bool))(d)


def test_khop_edges_on_a_path():
    d = _path(5)  # 0-1-2-3-4
    two = KHopVirtualEdges(k=2)(d)
    assert _pairs(two.edge_index[:, 8:]) == {(0, 2), (2, 0), (1, 3), (3, 1), (2, 4), (4, 2)}
    assert two.num_virtual_edges == 6
    three = khop_virtual_edges(d.edge_index, 5, k=3)
    assert _pairs(three) == _pairs(khop_virtual_edges(d.edge_index, 5, k=2)) | {
        (0, 3), (3, 0), (1, 4), (4, 1)}
    # Cap 1: each node picks its closest candidate (ties: more shortest paths, lower index).
    capped = khop_virtual_edges(d.edge_index, 5, k=3, max_per_node=1, chunk_size=2)
    assert _pairs(capped) == {(0, 2), (2, 0), (1, 3), (3, 1), (4, 2), (2, 4)}


def test_khop_cap_prefers_more_paths():
    # 0 reaches 3 through 1 and 2 (two shortest paths) and 4 through 1 only; 4 reaches 6
    # through 5 and 7, so 4 does not pick 0 either.
    ei = to_undirected(torch.tensor([[0, 0, 1, 2, 1, 4, 5, 4, 7], [1, 2, 3, 3, 4, 5, 6, 7, 6]]))
    got = _pairs(khop_virtual_edges(ei, 8, k=2, max_per_node=1))
    assert (0, 3) in got and (4, 6) in got and (0, 4) not in got


def test_two_hop_matches_pyg():
    g = torch.Generator().manual_seed(0)
    ei = coalesce(to_undirected(torch.randint(30, (2, 40), generator=g)), num_nodes=30)
    ei = ei[:, ei[0] != ei[1]]
    ours = KHopVirtualEdges(k=2)(Data(edge_index=ei, num_nodes=30)).edge_index
    theirs = TwoHop()(Data(edge_index=ei, num_nodes=30)).edge_index
    assert _pairs(ours) == _pairs(theirs) - {(i, i) for i in range(30)}


def test_inputs_not_modified_and_attributes_extended():
    d = _path(4)
    d.edge_weight = torch.full((6,), 0.5)
    snapshot = {k: v.clone() for k, v in d.items() if torch.is_tensor(v)}
    for t in (VirtualNode(), VirtualNode(nodes=torch.tensor([1])), KHopVirtualEdges(3, 1)):
        out = t(d)
        assert out.edge_weight.size(0) == out.edge_index.size(1)
        assert set(d.keys()) == set(snapshot) | {"num_nodes"}
        for k, v in snapshot.items():
            assert torch.equal(d[k], v), (t, k)
    out = KHopVirtualEdges(2)(d)
    assert out.edge_weight[6:].tolist() == [1.0] * out.num_virtual_edges
