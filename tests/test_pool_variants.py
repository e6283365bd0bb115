"""benchmarks/pool_variants.py: each variant does what its flag says, and a run with all of
them ends like a train_sage.py run."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from pyg_course.nn.models import GraphSAGE
from pyg_course.train.loop import TrainConfig
from tests.helpers.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pool_variants.py"


@pytest.fixture(scope="module")
def variants():
    return load_script(SCRIPT)


def _graph(seed=0, n=40):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, 160), generator=g)
    edge_index = torch.cat([edge_index, torch.tensor([[3, 5], [3, 5]])], 1)  # two self-loops
    idx = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    for m, part in zip(masks, idx.chunk(3)):
        m[part] = True
    return Data(x=torch.rand(n, 6, generator=g) * 3, edge_index=edge_index,
                y=torch.randint(0, 3, (n,), generator=g), train_mask=masks[0],
                val_mask=masks[1], test_mask=masks[2])


def _trainer(variants, argv):
    args = variants.parser().parse_args(argv)
    torch.manual_seed(0)
    model = GraphSAGE(6, 8, 2, 3, aggr="pool", aggr_channels=4)
    return variants.variant_trainer(args)(model, _graph(),
                                          TrainConfig(epochs=3, lr=0.05, progress=False))


def test_transform(variants):
    data = _graph()
    args = variants.parser().parse_args(["--self-loops", "--l2-rows"])
    out = variants.transform(data.clone(), args)
    torch.testing.assert_close(out.x.norm(dim=1), torch.ones(40))
    torch.testing.assert_close(out.x, data.x / data.x.norm(dim=1, keepdim=True))
    loops = out.edge_index[0] == out.edge_index[1]
    assert sorted(out.edge_index[0, loops].tolist()) == list(range(40))  # one per node
    assert (~loops).sum() == (data.edge_index[0] != data.edge_index[1]).sum()
    plain = variants.transform(data.clone(), variants.parser().parse_args([]))
    assert torch.equal(plain.x, data.x) and torch.equal(plain.edge_index, data.edge_index)


def test_first_layer_weight_decay(variants):
    t = _trainer(variants, ["--first-layer-wd", "1e-3"])
    names = {id(p): n for n, p in t.model.named_parameters()}
    first, rest = t.optimizer.param_groups
    assert first["weight_decay"] == 1e-3 and rest["weight_decay"] == 0.0
    assert {names[id(p)].split(".")[1] for p in first["params"]} == {"0"}
    assert {names[id(p)].split(".")[1] for p in rest["params"]} == {"1"}
    assert len(first["params"]) + len(rest["params"]) == len(list(t.model.parameters()))


def test_label_smoothing(variants):
    t = _trainer(variants, ["--label-smoothing", "0.2"])
    logits, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    torch.testing.assert_close(t.loss_fn(logits, y),
                               F.cross_entropy(logits, y, label_smoothing=0.2))
    assert t.loss_fn(logits, y) != F.cross_entropy(logits, y)


def test_ema_is_evaluated_and_kept(variants):
    t = _trainer(variants, ["--ema", "0.75"])
    seen = []
    for _ in range(3):
        t.train_epoch()
        seen.append([p.detach().clone() for p in t.model.parameters()])
    expect = seen[0]
    for step in seen[1:]:
        expect = [0.75 * e + 0.25 * s for e, s in zip(expect, step)]
    for a, e in zip(t.average, expect):
        torch.testing.assert_close(a, e)
    # predict() runs the averaged weights and puts the trained ones back
    logits = t.predict()
    for p, s in zip(t.model.parameters(), seen[-1]):
        assert torch.equal(p, s)
    names = [n for n, _ in t.model.named_parameters()]
    avg_model = GraphSAGE(6, 8, 2, 3, aggr="pool", aggr_channels=4)
    avg_model.load_state_dict(dict(zip(names, t.average)), strict=False)
    avg_model.eval()
    d = t.data
    torch.testing.assert_close(logits, avg_model(d.x, d.edge_index))
    # the selected state is the evaluated (averaged) one
    t._record(t.evaluate())
    for n, a in zip(names, t.average):
        assert torch.equal(t.best_state[n], a)


def test_end_to_end_with_every_variant(variants, tmp_path):
    res = variants.main(["--label-smoothing", "0.1", "--self-loops", "--l2-rows", "--ema", "0.9",
                         "--first-layer-wd", "1e-3", "--", "--dataset", "CSBM", "--aggr", "pool",
                         "--mode", "full", "--epochs", "5", "--hidden", "16", "--no-progress",
                         "--out", str(tmp_path)])
    assert res["summary"]["test_acc_mean"] > 0.8  # two balanced classes: chance is 0.5
    assert (tmp_path / "results.json").exists()


def test_refuses_what_it_cannot_do(variants, capsys):
    with pytest.raises(SystemExit) as exc:
        variants.main(["--ema", "0.9", "--", "--resume"])
    assert exc.value.code == 2 and "--resume is not supported" in capsys.readouterr().err
