import inspect

import pytest
import torch
import torch_geometric.nn.models as pyg_models

from pyg_course.nn.models import GCN
from pyg_course.utils.sparse import sparse_dropout


def test_signature_matches_pyg():
    ours = list(inspect.signature(GCN.__init__).parameters)[1:7]
    theirs = list(inspect.signature(pyg_models.GCN.__init__).parameters)[1:7]
    assert ours == theirs == ["in_channels", "hidden_channels", "num_layers", "out_channels",
                              "dropout", "act"]


def test_same_function_as_pyg_gcn_with_same_weights():
    # PyG's BasicGNN has no input dropout; in eval mode both compute the same function.
    x, ei = torch.randn(10, 4), torch.randint(0, 10, (2, 30))
    ours, theirs = GCN(4, 8, 3, 2, dropout=0.5), pyg_models.GCN(4, 8, 3, 2, dropout=0.5)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x, ei), theirs(x, ei), atol=1e-6, rtol=0)
    assert GCN(4, 8, 2).convs[-1].out_channels == 8


def test_sparse_and_dense_features_agree_in_eval():
    x = (torch.rand(12, 20) < 0.2).float()
    ei = torch.randint(0, 12, (2, 40))
    model = GCN(20, 8, 2, 3, dropout=0.5).eval()
    torch.testing.assert_close(model(x.to_sparse_csr(), ei), model(x, ei))
    torch.testing.assert_close(model(x.to_sparse(), ei), model(x, ei))


@pytest.mark.parametrize("layout", ["csr", "coo"])
def test_sparse_dropout_distribution(layout):
    x = torch.ones(200, 100)
    sx = x.to_sparse_csr() if layout == "csr" else x.to_sparse()
    out = sparse_dropout(sx, 0.3, training=True).to_dense()
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.01  # 20,000 draws: ~0.003 std
    torch.testing.assert_close(out[kept], torch.full((int(kept.sum()),), 1 / 0.7))
    assert sparse_dropout(sx, 0.3, training=False) is sx


def test_training_reaches_paper_accuracy_band(cora):
    # A short full-batch run through the shared loop; a broken layer stays far below 75%.
    from pyg_course.train import TrainConfig, run_experiment
    from pyg_course.train.cli import normalize_features

    data = normalize_features(cora)
    res = run_experiment(lambda: GCN(data.num_features, 16, 2, 7, dropout=0.5, input_dropout=0.5,
                                     cached=True),
                         data, TrainConfig(epochs=100, progress=False), runs=1, seed=0)
    assert res["summary"]["test_acc_mean"] > 0.77


@pytest.mark.parametrize("arg, p", [("dropout", -0.5), ("dropout", 2.0), ("input_dropout", 1.1)])
def test_bad_dropout(arg, p):
    with pytest.raises(ValueError, match=rf"GCN: {arg} must lie in \[0, 1\]"):
        GCN(4, 8, 2, 3, **{arg: p})
