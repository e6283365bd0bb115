"""Sparse-matrix helpers shared by the models, transforms and training loop: dropout on a
sparse matrix's non-zeros, gathering a mini-batch's rows in any layout, and building
``torch.sparse_csr`` matrices without torch's one-time "beta" notice.

torch warns once per process, the first time any CSR tensor is built, that "Sparse CSR tensor
support is in beta state". The package builds CSR matrices on purpose (bag-of-words features,
normalised adjacencies, structural counts; each tested against a dense reference), so the
notice tells a user nothing and would open every training run. These two functions silence
exactly that message, around the one call that raises it (:func:`to_csr`, :func:`csr_tensor`);
every other warning, and the user's own warning settings, are left as they are.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import is_torch_sparse_tensor

_BETA = "Sparse CSR tensor support is in beta state"


def to_csr(t: Tensor) -> Tensor:
    """``t.to_sparse_csr()`` (dense or COO ``t``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_BETA, category=UserWarning)
        return t.to_sparse_csr()


def csr_tensor(crow: Tensor, col: Tensor, values: Tensor, size: Sequence[int]) -> Tensor:
    """``torch.sparse_csr_tensor(crow, col, values, size)`` for indices the caller built valid
    (invariant checks opted out explicitly, which also silences torch's notice about them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_BETA, category=UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size, check_invariants=False)


_INVARIANTS = "Sparse invariant checks are implicitly disabled"
_notices_spent = False


def spend_csr_notices() -> None:
    """Spend torch's two once-per-process CSR notices ("beta state", "invariant checks are
    implicitly disabled") on one 1x1 matrix, with exactly those two messages silenced.

    PyG's ``spmm`` converts a ``torch_sparse.SparseTensor`` to a CSR tensor on the CPU without
    choosing ``check_invariants``, which makes torch print both notices the first time; a model
    that hands a ``SparseTensor`` to a PyG layer (``GCN2Conv`` in
    :class:`~pyg_course.nn.models.DeepGNN`) calls this once when it builds its adjacency, so
    its first training step is quiet. torch keeps each notice's once-per-process state in C++,
    so later conversions stay silent; every other warning is left alone.
    """
    global _notices_spent
    if _notices_spent:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_BETA, category=UserWarning)
        warnings.filterwarnings("ignore", message=_INVARIANTS, category=UserWarning)
        one = torch.ones(1)
        torch.sparse_csr_tensor(torch.tensor([0, 1]), torch.tensor([0]), one, (1, 1))
    _notices_spent = True


def sparse_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout on the stored values of a ``torch.sparse`` (COO or CSR) matrix.

    Dense dropout on a bag-of-words matrix draws a random number for every entry, although
    98.7% of Cora's are zero and stay zero; the original GCN code drops only the non-zeros.
    The result has the same distribution as dense dropout (zeros stay zero, survivors are
    scaled by ``1 / (1 - p)``) at the cost of the non-zeros alone. A dense ``x`` gets
    ``F.dropout``, so a model calls this on whatever features it is given.
    """
    if not is_torch_sparse_tensor(x):
        return F.dropout(x, p, training)
    if not training or p == 0.0:
        return x
    if x.layout == torch.sparse_csr:  # x's own structure
        return csr_tensor(x.crow_indices(), x.col_indices(), F.dropout(x.values(), p, True),
                          x.size())
    x = x.coalesce()
    return torch.sparse_coo_tensor(x.indices(), F.dropout(x.values(), p, True), x.size(),
                                   is_coalesced=True, check_invariants=False)


def index_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for a dense, COO or CSR ``x`` (a mini-batch's features); sparse ``x``
    stays sparse, in its layout, so that a mini-batch of bag-of-words rows is gathered, dropped
    out and multiplied at the cost of its non-zeros. (``torch.index_select`` has no CSR kernel,
    and ``NeighborLoader`` cannot slice a CSR matrix, which is why the training loop gathers
    sparse features itself.)"""
    index = index.to(device=x.device, dtype=torch.long)
    if not is_torch_sparse_tensor(x):
        return x.index_select(0, index)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= x.size(0)):
        raise IndexError(f"index_rows: row index out of range [0, {x.size(0)}) "
                         f"(min {int(index.min())}, max {int(index.max())})")
    if x.layout != torch.sparse_csr:
        return x.index_select(0, index)
    crow, col, val = x.crow_indices(), x.col_indices(), x.values()
    start = crow[index]
    count = crow[index + 1] - start
    new_crow = torch.zeros(index.numel() + 1, dtype=crow.dtype, device=crow.device)
    torch.cumsum(count, 0, out=new_crow[1:])
    nnz = int(new_crow[-1])
    # Position of every kept entry: its row's start in x plus its offset within the row.
    pos = (torch.repeat_interleave(start - new_crow[:-1], count, output_size=nnz)
           + torch.arange(nnz, dtype=crow.dtype, device=crow.device))
    # Rows of a valid CSR tensor stay valid: no invariant check needed.
    return csr_tensor(new_crow, col[pos], val[pos], (index.numel(), x.size(1)))
