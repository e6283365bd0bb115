import math

import pytest
import torch

from pyg_course.datasets import csbm
from pyg_course.nn.models import GCN
from pyg_course.train import TrainConfig, Trainer, load_checkpoint, run_experiment
from pyg_course.train.checkpoint import CheckpointError, save_atomic
from pyg_course.train.loop import NonFiniteLossError
from pyg_course.utils.stats import mean_std


def _data():
    return csbm(num_nodes=400, num_features=8, snr=0.8, homophily=0.7, num_val=100,
                num_test=200, seed=1)


def _build(data):
    return lambda: GCN(data.num_features, 8, 2, 2, dropout=0.5, cached=True)


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([0.5]) == (0.5, 0.0)
    assert all(math.isnan(v) for v in mean_std([]))


def test_seeded_runs_are_reproducible_and_seeds_differ():
    data = _data()
    cfg = TrainConfig(epochs=15, progress=False)
    a = run_experiment(_build(data), data, cfg, runs=2, seed=5)
    b = run_experiment(_build(data), data, cfg, runs=2, seed=5)
    assert [r["test_acc"] for r in a["runs"]] == [r["test_acc"] for r in b["runs"]]
    assert a["history"][0] != a["history"][1]  # run 2 uses another seed


def test_selection_is_test_accuracy_at_best_validation_epoch():
    data = _data()
    res = run_experiment(_build(data), data, TrainConfig(epochs=25, progress=False), runs=1)
    hist, run = res["history"][0], res["runs"][0]
    best_val = max(h["val_acc"] for h in hist)
    ties = [h for h in hist if h["val_acc"] == best_val]
    chosen = min(ties, key=lambda h: h["val_loss"])
    assert run["best_epoch"] == chosen["epoch"] and run["test_acc"] == chosen["test_acc"]


def test_early_stopping_patience():
    data = _data()
    trainer = Trainer(_build(data)(), data, TrainConfig(epochs=500, lr=0.05, patience=5,
                                                        progress=False))
    result = trainer.fit()
    assert result["epochs_run"] < 500 and trainer.bad_epochs == 5


def test_kill_mid_epoch_then_resume_equals_uninterrupted(tmp_path, monkeypatch):
    data = _data()
    cfg = TrainConfig(epochs=20, progress=False)
    clean = run_experiment(_build(data), data, cfg, runs=2, seed=0, out=tmp_path / "clean")

    calls = {"n": 0}
    original = Trainer.train_epoch

    def dying(self):
        calls["n"] += 1
        if calls["n"] == 20 + 8:  # inside epoch 8 of the second run
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "train_epoch", dying)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(_build(data), data, cfg, runs=2, seed=0, out=tmp_path / "killed")
    ckpt = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert ckpt["run"] == 1 and ckpt["trainer"]["epoch"] == 7
    monkeypatch.setattr(Trainer, "train_epoch", original)
    resumed = run_experiment(_build(data), data, cfg, runs=2, seed=0, out=tmp_path / "killed",
                             resume=True)
    assert resumed["runs"] == clean["runs"]
    strip = [[{k: v for k, v in h.items() if k != "time"} for h in run] for run in clean["history"]]
    assert [[{k: v for k, v in h.items() if k != "time"} for h in run]
            for run in resumed["history"]] == strip
    final_clean = torch.load(tmp_path / "clean" / "model.pt")
    final_resumed = torch.load(tmp_path / "killed" / "model.pt")
    for k in final_clean:
        assert torch.equal(final_clean[k], final_resumed[k])


def test_save_atomic_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_atomic({"epoch": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_atomic({"epoch": 2, "bad": Unpicklable()}, path)
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind
    assert load_checkpoint(tmp_path / "missing.pt") is None


def test_nan_features_rejected_by_trainer():
    data = _data()
    data.x[0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN/inf"):
        Trainer(_build(data)(), data, TrainConfig(progress=False))


def test_config_rejects_values_that_would_crash_later():
    for kwargs in ({"patience": 0}, {"batch_size": 0}, {"num_workers": -1}, {"epochs": 0},
                   {"num_neighbors": [10, 0]}, {"num_neighbors": [-5]}):
        with pytest.raises(ValueError):
            TrainConfig(**kwargs)
    assert TrainConfig(num_neighbors=[-1, 3]).num_neighbors == [-1, 3]


def test_no_runs_is_an_error():
    data = _data()
    with pytest.raises(ValueError, match="runs must be at least 1, got 0"):
        run_experiment(_build(data), data, TrainConfig(epochs=1, progress=False), runs=0)


def test_non_finite_loss_stops_training():
    data = _data()
    trainer = Trainer(_build(data)(), data, TrainConfig(epochs=10, progress=False))
    step = trainer.train_epoch
    trainer.train_epoch = lambda: step() if trainer.epoch == 0 else float("nan")
    saved = []
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 2: training diverged; "
                                                 r"lower the learning rate \(--lr, now 0.01\)"):
        trainer.fit(checkpoint=saved.append)
    assert trainer.epoch == 1 and len(saved) == 1  # the diverged epoch is neither kept nor saved


def test_resume_names_what_differs(tmp_path):
    data = _data()
    cfg = TrainConfig(epochs=2, progress=False)
    flags = {"--hidden": 8, "--dataset": "CSBM"}
    run_experiment(_build(data), data, cfg, runs=1, out=tmp_path, flags=flags)
    where = f"resume: the checkpoint {tmp_path / 'checkpoint.pt'} was written with other settings"
    # The command's flags, in its words ...
    with pytest.raises(CheckpointError) as exc:
        run_experiment(_build(data), data, cfg, runs=1, out=tmp_path, resume=True,
                       flags={**flags, "--hidden": 16, "--dataset": "Cora"})
    assert str(exc.value) == (f"{where}: --hidden 8 -> 16, --dataset CSBM -> Cora; use the same "
                              f"arguments or another --out")
    # ... else what a library caller passed.
    with pytest.raises(CheckpointError) as exc:
        run_experiment(_build(data), data, TrainConfig(epochs=3, lr=0.1, progress=False),
                       runs=2, out=tmp_path, resume=True, flags=flags, name="other")
    assert str(exc.value) == (f"{where}: epochs 2 -> 3, lr 0.01 -> 0.1, "
                              f"name experiment -> other; use the same arguments or another --out")
    # More runs resume (the finished one is kept), fewer than those finished do not.
    more = run_experiment(_build(data), data, cfg, runs=2, out=tmp_path, resume=True, flags=flags)
    assert len(more["runs"]) == 2
    with pytest.raises(CheckpointError, match="holds 2 finished runs, more than the 1 asked"):
        run_experiment(_build(data), data, cfg, runs=1, out=tmp_path, resume=True, flags=flags)


def test_resume_checks_a_checkpoint_from_before_flags_were_recorded(tmp_path):
    # Such a checkpoint recorded the training config, runs and seed only.
    data = _data()
    cfg = TrainConfig(epochs=2, progress=False)
    run_experiment(_build(data), data, cfg, runs=1, out=tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    old = {k: state[k] for k in ("run", "completed", "trainer")}
    old.update(config={k: v for k, v in state["settings"].items()
                       if k not in ("runs", "seed", "name")}, runs=1, seed=0)
    save_atomic(old, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="other settings: epochs 2 -> 3, seed 0 -> 1;"):
        run_experiment(_build(data), data, TrainConfig(epochs=3, progress=False), runs=1,
                       seed=1, out=tmp_path, resume=True, flags={"--hidden": 8})
    res = run_experiment(_build(data), data, cfg, runs=1, out=tmp_path, resume=True,
                         flags={"--hidden": 8})
    assert len(res["runs"]) == 1


@pytest.mark.parametrize("content", [b"", b"\x80\x04garbage", b"not a checkpoint"])
def test_unreadable_checkpoint(tmp_path, content):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"cannot read the checkpoint {path} "):
        load_checkpoint(path)
    save_atomic({"epoch": 3}, path)  # readable, but not a training checkpoint
    data = _data()
    with pytest.raises(CheckpointError, match="is not a training checkpoint"):
        run_experiment(_build(data), data, TrainConfig(epochs=1, progress=False),
                       out=tmp_path, resume=True)
