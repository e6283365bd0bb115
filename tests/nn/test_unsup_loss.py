"""UnsupervisedSAGELoss: hand-computed values on a 4-node example, gradients, errors."""

import math

import pytest
import torch

from pyg_course.nn import UnsupervisedSAGELoss

# Four 2-D embeddings; anchor 0 has positive 1 and negatives (2, 3), anchor 1 has positive 0
# and negatives (3, 2). Dot products: s01 = 0.5, s02 = -1, s03 = 0, s13 = -1, s12 = -0.5.
Z = torch.tensor([[1.0, 0.0], [0.5, 0.5], [-1.0, 0.0], [0.0, -2.0]], dtype=torch.float64)
ANCHOR, POS, NEG = torch.tensor([0, 1]), torch.tensor([[1], [0]]), torch.tensor([[2, 3], [3, 2]])


def log_sigmoid(x):
    return -math.log1p(math.exp(-x))


def loss(fn, z=Z, mask=None):
    return fn(z[ANCHOR], z[POS], z[NEG], mask)


def test_sage_mode_dot_by_hand():
    # J_0 = -log s(0.5) - 2 * (log s(1) + log s(0)) / 2
    # J_1 = -log s(0.5) - 2 * (log s(1) + log s(0.5)) / 2
    j0 = -log_sigmoid(0.5) - (log_sigmoid(1.0) + log_sigmoid(0.0))
    j1 = -log_sigmoid(0.5) - (log_sigmoid(1.0) + log_sigmoid(0.5))
    assert abs(j0 - 1.4804859) < 1e-6 and abs(j1 - 1.2614157) < 1e-6
    out = loss(UnsupervisedSAGELoss("sage", "dot"))
    assert out.dtype == torch.float64
    assert abs(float(out) - (j0 + j1) / 2) < 1e-12
    # neg_weight replaces Q = 2: the negative term is halved.
    half = loss(UnsupervisedSAGELoss("sage", "dot", neg_weight=1.0))
    expected = (-log_sigmoid(0.5) * 2 - 0.5 * (log_sigmoid(1.0) + log_sigmoid(0.0))
                - 0.5 * (log_sigmoid(1.0) + log_sigmoid(0.5))) / 2
    assert abs(float(half) - expected) < 1e-12


def test_sage_mode_cosine_by_hand():
    # Normalised: z1 = (1, 1)/sqrt2, z3 = (0, -1): c01 = 1/sqrt2, c02 = -1, c03 = 0,
    # c13 = -1/sqrt2, c12 = -1/sqrt2.
    r = 1 / math.sqrt(2)
    j0 = -log_sigmoid(r) - (log_sigmoid(1.0) + log_sigmoid(0.0))
    j1 = -log_sigmoid(r) - (log_sigmoid(r) + log_sigmoid(r))
    out = loss(UnsupervisedSAGELoss("sage", "cosine"))
    assert abs(float(out) - (j0 + j1) / 2) < 1e-12


def test_margin_mode_by_hand():
    # l = log s(score); J = max(0, max_n l_neg - min_p l_pos + margin)
    j0 = max(0.0, log_sigmoid(0.0) - log_sigmoid(0.5) + 1.0)   # 0.7809298
    j1 = max(0.0, log_sigmoid(-0.5) - log_sigmoid(0.5) + 1.0)  # 0.5
    assert abs(j0 - 0.7809298) < 1e-6 and abs(j1 - 0.5) < 1e-12
    out = loss(UnsupervisedSAGELoss("margin", "dot"))
    assert abs(float(out) - (j0 + j1) / 2) < 1e-12
    # A small margin makes anchor 0's hinge inactive: only anchor 1 contributes, 0.5 - 1 + 0.6.
    out = loss(UnsupervisedSAGELoss("margin", "dot", margin=0.6))
    expected = (max(0.0, log_sigmoid(0.0) - log_sigmoid(0.5) + 0.6)
                + max(0.0, log_sigmoid(-0.5) - log_sigmoid(0.5) + 0.6)) / 2
    assert abs(float(out) - expected) < 1e-12


def test_positive_mask_and_hardest_positive():
    fn = UnsupervisedSAGELoss("sage", "dot")
    # Anchor 0 gets a second positive (node 2, padding); masked out it changes nothing.
    pos = torch.tensor([[1, 2], [0, 0]])
    mask = torch.tensor([[True, False], [True, True]])
    assert torch.allclose(fn(Z[ANCHOR], Z[pos], Z[NEG], mask), loss(fn))
    # Unmasked, anchor 0's positive term averages s01 = 0.5 and s02 = -1.
    full = fn(Z[ANCHOR], Z[pos], Z[NEG])
    j0 = -(log_sigmoid(0.5) + log_sigmoid(-1.0)) / 2 - (log_sigmoid(1.0) + log_sigmoid(0.0))
    j1 = -log_sigmoid(0.5) - (log_sigmoid(1.0) + log_sigmoid(0.5))
    assert abs(float(full) - (j0 + j1) / 2) < 1e-12
    # Margin mode takes the hardest (lowest-scoring) positive: s02 = -1 for anchor 0.
    m = UnsupervisedSAGELoss("margin")(Z[ANCHOR], Z[pos], Z[NEG])
    j0 = max(0.0, log_sigmoid(0.0) - log_sigmoid(-1.0) + 1.0)
    j1 = max(0.0, log_sigmoid(-0.5) - log_sigmoid(0.5) + 1.0)
    assert abs(float(m) - (j0 + j1) / 2) < 1e-12
    # An anchor without any valid positive is left out of the mean.
    mask = torch.tensor([[False, False], [True, True]])
    only1 = fn(Z[ANCHOR], Z[pos], Z[NEG], mask)
    assert abs(float(only1) - (-log_sigmoid(0.5) - (log_sigmoid(1.0) + log_sigmoid(0.5)))) < 1e-12
    none = fn(Z[ANCHOR], Z[pos], Z[NEG], torch.zeros(2, 2, dtype=torch.bool))
    assert float(none) == 0.0


@pytest.mark.parametrize("mode", ["sage", "margin"])
@pytest.mark.parametrize("similarity", ["dot", "cosine"])
def test_gradients_reach_the_encoder(mode, similarity):
    torch.manual_seed(0)
    x = torch.randn(4, 3, dtype=torch.float64)
    encoder = torch.nn.Linear(3, 2).double()
    fn = UnsupervisedSAGELoss(mode, similarity, margin=5.0)
    out = loss(fn, encoder(x))
    out.backward()
    assert encoder.weight.grad is not None and encoder.weight.grad.abs().sum() > 0
    assert encoder.bias.grad is not None
    z = (Z + 0.1 * torch.randn(4, 2, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda z: loss(fn, z), (z,))


def test_training_separates_positives_from_negatives():
    """A few steps on the loss alone raise positive scores above negative ones."""
    torch.manual_seed(0)
    z = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([z], lr=0.5)
    fn = UnsupervisedSAGELoss("sage", "cosine")
    first = float(loss(fn, z).detach())
    for _ in range(50):
        opt.zero_grad()
        out = loss(fn, z)
        out.backward()
        opt.step()
    assert float(out.detach()) < first
    s = fn.score(z[ANCHOR], z[POS])
    n = fn.score(z[ANCHOR], z[NEG])
    assert (s.min(1).values > n.max(1).values).all()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="mode"):
        UnsupervisedSAGELoss("hinge")
    with pytest.raises(ValueError, match="similarity"):
        UnsupervisedSAGELoss(similarity="l2")
    fn = UnsupervisedSAGELoss()
    with pytest.raises(ValueError, match="z_neg"):
        fn(Z[ANCHOR], Z[POS], Z[:3].unsqueeze(0))
    with pytest.raises(ValueError, match="pos_mask"):
        fn(Z[ANCHOR], Z[POS], Z[NEG], torch.ones(3, 1, dtype=torch.bool))
    assert repr(UnsupervisedSAGELoss("margin", margin=0.5)) == \
        "UnsupervisedSAGELoss(mode='margin', similarity='dot', margin=0.5)"


@pytest.mark.parametrize("kwargs,match", [
    ({"neg_weight": -1.0}, "neg_weight must be > 0"),   # would push the negatives closer
    ({"neg_weight": 0.0}, "neg_weight must be > 0"),
    ({"neg_weight": float("nan")}, "neg_weight must be > 0"),
    ({"neg_weight": float("inf")}, "neg_weight must be > 0"),
    ({"margin": float("nan")}, "margin must be >= 0"),
    ({"margin": float("inf")}, "margin must be >= 0"),
    ({"margin": -0.5}, "margin must be >= 0"),
])
def test_weights_must_be_finite_and_positive(kwargs, match):
    with pytest.raises(ValueError, match=f"UnsupervisedSAGELoss: {match}"):
        UnsupervisedSAGELoss(**kwargs)


def test_valid_weights_still_accepted_and_strings_are_not():
    with pytest.raises(TypeError, match="margin must be a number"):
        UnsupervisedSAGELoss(margin="1")
    assert UnsupervisedSAGELoss(neg_weight=0.5, margin=0.0).margin == 0.0
    assert UnsupervisedSAGELoss(neg_weight=3).neg_weight == 3
