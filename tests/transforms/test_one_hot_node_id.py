"""OneHotNodeId: the documented sparse option works with its default ``cat``, an unknown
number of nodes is a clear error, and the identity is built on the graph's device."""

import warnings

import pytest
import torch
from torch_geometric.data import Data

from pyg_course.transforms import OneHotNodeId

EDGES = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])


def test_sparse_replaces_x_by_default():
    data = Data(x=torch.randn(4, 3), edge_index=EDGES, num_nodes=4)
    out = OneHotNodeId(sparse=True)(data)
    assert out.x.layout == torch.sparse_csr and torch.equal(out.x.to_dense(), torch.eye(4))
    assert data.x.shape == (4, 3)  # the input is not modified
    assert OneHotNodeId(sparse=True).cat is False


def test_dense_still_concatenates_by_default_and_sparse_cat_is_an_error():
    x = torch.randn(4, 3)
    out = OneHotNodeId()(Data(x=x, edge_index=EDGES, num_nodes=4))
    assert torch.equal(out.x, torch.cat([x, torch.eye(4)], 1))
    assert torch.equal(OneHotNodeId(cat=False)(Data(x=x, edge_index=EDGES)).x, torch.eye(4))
    with pytest.raises(ValueError, match="sparse=True cannot be concatenated"):
        OneHotNodeId(sparse=True, cat=True)


@pytest.mark.parametrize("sparse", [False, True])
def test_unknown_number_of_nodes_is_named(sparse):
    with warnings.catch_warnings():  # PyG's own "unable to infer num_nodes"
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match="OneHotNodeId: the number of nodes is unknown"):
            OneHotNodeId(sparse=sparse)(Data())


def test_identity_is_built_on_the_graph_device():
    # The meta device stands for CUDA here: nothing is computed, only the placement is checked.
    data = Data(edge_index=EDGES.to("meta"), num_nodes=4)
    out = OneHotNodeId(cat=False)(data)
    assert out.x.device.type == "meta" and out.x.shape == (4, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("sparse", [False, True])
def test_identity_on_cuda(sparse):
    data = Data(edge_index=EDGES.cuda(), num_nodes=4)
    out = OneHotNodeId(sparse=sparse, cat=False)(data)
    assert out.x.is_cuda
    assert torch.equal(out.x.to_dense().cpu(), torch.eye(4))
