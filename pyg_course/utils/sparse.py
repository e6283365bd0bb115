"""Building ``torch.sparse_csr`` matrices without torch's one-time "beta" notice.

torch warns once per process, the first time any CSR tensor is built, that "Sparse CSR tensor
support is in beta state". The package builds CSR matrices on purpose (bag-of-words features,
normalised adjacencies, structural counts; each tested against a dense reference), so the
notice tells a user nothing and would open every training run. These two functions silence
exactly that message, around the one call that raises it; every other warning, and the user's
own warning settings, are left as they are.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
from torch import Tensor

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
