"""The 0/1-mask rule that the samplers and the linear probe share, on tensors and arrays."""

import numpy as np
import pytest
import torch

from pyg_course.utils.checks import looks_like_mask


@pytest.mark.parametrize("as_array", [torch.tensor, np.asarray], ids=["tensor", "numpy"])
def test_an_integer_0_1_vector_of_length_n_looks_like_a_mask(as_array):
    assert looks_like_mask(as_array([0, 1, 1, 0]), 4)
    assert looks_like_mask(as_array([1, 1, 1]), 3)
    assert not looks_like_mask(as_array([0, 1, 2, 0]), 4)  # a 2: node ids
    assert not looks_like_mask(as_array([0, 1, 1]), 4)  # shorter than |V|: node ids
    assert not looks_like_mask(as_array([0, 1]), 2)  # |V| <= 2: ids {0, 1} are plausible
    assert not looks_like_mask(as_array([[0, 1], [1, 0]]), 2)
