"""train_deepwalk: passes over each epoch's walks reshuffled with a linearly decaying learning
rate, and bad settings (NaN / non-positive learning rates, batch sizes that trained nothing)
rejected before any training."""

import math

import pytest
import torch
from torch_geometric.data import Data

from pyg_course.nn import DeepWalk
from pyg_course.train import train_deepwalk

NAN, INF = float("nan"), float("inf")


def _graph():
    # Undirected ring 0..5 plus a chord, a directed dead end 6 -> 7, and isolated node 8.
    und = torch.tensor([[0, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 0, 3]])
    edge_index = torch.cat([und, und.flip(0), torch.tensor([[6], [7]])], 1)
    return Data(edge_index=edge_index, num_nodes=9)


def _model(**kwargs):
    torch.manual_seed(0)
    return DeepWalk(_graph(), **{"emb_dim": 4, "walk_length": 5, "window_size": 2, **kwargs})


def test_passes_train_on_the_same_walks_reshuffled(monkeypatch):
    torch.manual_seed(0)
    model = DeepWalk(_graph(), emb_dim=4, walk_length=5, window_size=2, walks_per_node=3)
    seen, rates = [], []
    step = model.sgd_step
    monkeypatch.setattr(model, "sgd_step", lambda w, lr: (seen.append(w.clone()),
                                                          rates.append(lr), step(w, lr))[-1])
    losses = train_deepwalk(model, epochs=2, passes=3, batch_size=4)
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    per_pass = 7  # 27 walks in batches of 4
    assert len(seen) == 2 * 3 * per_pass
    rows = lambda batches: sorted(map(tuple, torch.cat(batches).tolist()))  # noqa: E731
    for epoch in range(2):
        passes = [seen[(3 * epoch + p) * per_pass:(3 * epoch + p + 1) * per_pass]
                  for p in range(3)]
        assert rows(passes[0]) == rows(passes[1]) == rows(passes[2])   # the same walks ...
        assert not torch.equal(torch.cat(passes[0]), torch.cat(passes[1]))  # ... reshuffled
        assert sorted(w[0] for w in rows(passes[0])) == sorted(list(range(9)) * 3)
    assert rows(seen[:per_pass]) != rows(seen[3 * per_pass:4 * per_pass])  # fresh per epoch
    # The learning rate decays linearly over all epochs x passes x batches.
    assert rates[0] == 0.025 and all(a > b for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(batch_size=-4), ValueError, "batch_size must be at least 1"),
    (dict(batch_size=0), ValueError, "batch_size must be at least 1"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an int"),
    (dict(lr=-1), ValueError, "lr must be > 0"),
    (dict(lr=0.0), ValueError, "lr must be > 0"),
    (dict(lr=NAN), ValueError, "lr must be > 0"),
    (dict(lr=INF), ValueError, "lr must be > 0"),
    (dict(epochs=-1), ValueError, "epochs must be at least 0"),
    (dict(min_lr_ratio=NAN), ValueError, "min_lr_ratio"),
    (dict(optimizer="adam", batch_size=0), ValueError, "batch_size must be at least 1"),
    (dict(optimizer="adam", lr=-1), ValueError, "lr must be > 0"),
])
def test_train_deepwalk_rejects_bad_settings_before_training(kwargs, error, match):
    model = _model()
    before = model.embedding()
    with pytest.raises(error, match=f"train_deepwalk: {match}"):
        train_deepwalk(model, **kwargs)
    assert torch.equal(model.embedding(), before)


def test_train_deepwalk_valid_settings_still_train():
    model = _model()
    before = model.embedding()
    assert train_deepwalk(model, epochs=0) == [] and torch.equal(model.embedding(), before)
    losses = train_deepwalk(model, epochs=1, batch_size=4, lr=0.05)
    assert len(losses) == 1 and math.isfinite(losses[0]) and losses[0] > 0
    assert not torch.equal(model.embedding(), before)


def test_multilabel_runs_under_the_shared_runner_report_f1_per_ratio(capsys):
    import statistics

    from pyg_course.train import run_experiment
    from pyg_course.train.deepwalk import DeepWalkConfig, DeepWalkTrainer

    g = torch.Generator().manual_seed(0)
    n = 120
    ei = torch.randint(0, n, (2, 600), generator=g)
    y = (torch.rand(n, 4, generator=g) < 0.3).long()
    y[:, 0] = 1 - y[:, 1]  # every node has a label
    data = Data(edge_index=torch.cat([ei, ei.flip(0)], 1), y=y, num_nodes=n)
    res = run_experiment(lambda: DeepWalk(data, emb_dim=8, walk_length=6, window_size=2), data,
                         DeepWalkConfig(epochs=1, repeats=2, progress=False), runs=2,
                         trainer_cls=DeepWalkTrainer, name="multilabel")
    for run in res["runs"]:
        ev = run["evaluation"]
        assert ev["protocol"] == "multilabel"
        assert [run[f"micro@{round(100 * r['train_ratio'])}"] for r in ev["results"]] == \
            [r["micro"] for r in ev["results"]]
    s = res["summary"]
    assert s["macro@50_mean"] == pytest.approx(statistics.fmean(r["macro@50"]
                                                                for r in res["runs"]))
    assert s["macro@50_std"] == pytest.approx(statistics.stdev(r["macro@50"]
                                                               for r in res["runs"]))
    assert "test_acc_mean" not in s
    assert "multilabel: micro@10" in capsys.readouterr().out
