"""The shared sparse helpers: index_rows gathers the same rows in every layout."""

import pytest
import torch

from pyg_course.utils.sparse import index_rows


@pytest.mark.parametrize("layout", ["dense", "coo", "csr"])
def test_index_rows_matches_dense_indexing(layout):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, 12, generator=g) * (torch.rand(30, 12, generator=g) < 0.2)
    x[7] = 0.0  # an empty row
    sparse = {"dense": x, "coo": x.to_sparse_coo(), "csr": x.to_sparse_csr()}[layout]
    index = torch.tensor([7, 3, 3, 29, 0, 7, 15])  # repeats, an empty row, both ends
    out = index_rows(sparse, index)
    assert out.layout == sparse.layout
    torch.testing.assert_close(out.to_dense(), x[index])
    empty = index_rows(sparse, torch.empty(0, dtype=torch.long))
    assert empty.shape == (0, 12)


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_index_rows_rejects_out_of_range(layout):
    x = torch.eye(5).to_sparse_csr() if layout == "csr" else torch.eye(5).to_sparse_coo()
    with pytest.raises(IndexError, match=r"out of range \[0, 5\)"):
        index_rows(x, torch.tensor([0, 5]))
    with pytest.raises(IndexError, match="out of range"):
        index_rows(x, torch.tensor([-1]))
