"""A check the training-script tests share: a script's model equals the model it was before."""

import pytest
import torch


def _same_model(old, old_forward, model, x=None):
    """``model`` has ``old``'s parameter count and, after seeding both builds alike, its exact
    initial weights; with the same seed it gives ``old_forward(x, edge_index, training)`` in
    training and in evaluation mode. ``x`` defaults to dense random features."""
    old_params, new_params = list(old.parameters()), list(model.parameters())
    assert sum(p.numel() for p in new_params) == sum(p.numel() for p in old_params)
    for a, b in zip(old_params, new_params):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    x = torch.rand(20, 12) if x is None else x
    edge_index = torch.randint(0, 20, (2, 60))
    for training in (True, False):
        model.train(training), old.train(training)
        torch.manual_seed(1)
        new = model(x, edge_index)
        torch.manual_seed(1)
        torch.testing.assert_close(new, old_forward(x, edge_index, training))


@pytest.fixture
def check_same_model():
    return _same_model
