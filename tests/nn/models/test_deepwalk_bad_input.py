"""DeepWalk rejects what it would otherwise misread: NaN weights and learning rates (tables
filled with NaN), float ids and walks (silently truncated), empty batches (a cryptic
``random_`` error), out-of-range walk ids (wrapped round by negative indexing) and a walk
shorter than its window (DGL's assertion). train_deepwalk's own checks: tests/train/."""

import math

import pytest
import torch
from torch_geometric.data import Data

from pyg_course.nn import DeepWalk

NAN, INF = float("nan"), float("inf")


def _graph():
    und = torch.tensor([[0, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 0, 3]])
    return Data(edge_index=torch.cat([und, und.flip(0), torch.tensor([[6], [7]])], 1),
                num_nodes=9)


def _model(**kwargs):
    torch.manual_seed(0)
    return DeepWalk(_graph(), **{"emb_dim": 4, "walk_length": 5, "window_size": 2, **kwargs})


@pytest.mark.parametrize("neg_weight", [NAN, INF, -0.5])
def test_neg_weight_must_be_finite_and_non_negative(neg_weight):
    with pytest.raises(ValueError, match="neg_weight"):
        _model(neg_weight=neg_weight)
    assert _model(neg_weight=0).neg_weight == 0  # 0: no negative term, as documented


def test_walk_length_must_hold_a_window_as_in_dgl():
    with pytest.raises(ValueError, match=r"walk_length must be >= window_size \+ 1, got "
                                         r"walk_length=3 and window_size=5"):
        DeepWalk(_graph(), walk_length=3, window_size=5)
    assert DeepWalk(_graph(), walk_length=3, window_size=2).walk_length == 3  # the bound


def test_num_nodes_must_be_an_int():
    with pytest.raises(TypeError, match="num_nodes must be an int"):
        DeepWalk(_graph().edge_index, num_nodes=9.5, walk_length=5, window_size=2)


def test_sample_rejects_float_ids_in_a_list_like_in_a_tensor():
    model = _model()
    for bad in ([0.7, 1.2], torch.tensor([0.7, 1.2]), [torch.tensor(0.5)]):
        with pytest.raises(TypeError, match="integer"):
            model.sample(bad)
    # Integer ids: a list gives the same walks as a tensor, an empty list no walk.
    torch.manual_seed(1)
    a = model.sample([0, 3, 6])
    torch.manual_seed(1)
    assert torch.equal(a, model.sample(torch.tensor([0, 3, 6])))
    assert model.sample([]).shape == (0, 5)


@pytest.mark.parametrize("hs", [False, True])
def test_forward_and_sgd_step_reject_float_empty_and_out_of_range_walks(hs):
    model = _model(hierarchical_softmax=hs)
    walks = model.sample(torch.arange(9))
    before = [p.detach().clone() for p in model.parameters()]
    for step in (model, lambda w: model.sgd_step(w, 0.1)):
        with pytest.raises(TypeError, match="batch_walk must hold integer node ids"):
            step(walks.float() + 0.7)
        with pytest.raises(TypeError, match="batch_walk must hold integer node ids"):
            step(walks.bool())
        with pytest.raises(ValueError, match="batch_walk is empty"):
            step(walks[:0])
        for bad_id in (-1, 9):
            bad = walks.clone()
            bad[2, 3] = bad_id
            with pytest.raises(IndexError, match=r"outside \[0, 9\)"):
                step(bad)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


@pytest.mark.parametrize("hs", [False, True])
@pytest.mark.parametrize("lr", [NAN, INF, -0.1])
def test_sgd_step_rejects_a_bad_lr_before_touching_the_tables(lr, hs):
    model = _model(hierarchical_softmax=hs)
    walks = model.sample(torch.arange(9))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="lr must be >= 0"):
        model.sgd_step(walks, lr)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert math.isfinite(model.sgd_step(walks, 0.0).item())  # 0 evaluates the loss
