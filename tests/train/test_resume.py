"""Kill a mini-batch GraphSAGE run in the middle of an epoch, resume it from its checkpoint, and
get exactly the numbers and parameters of an uninterrupted run with the same seed: the
checkpoint restores the optimizer and every RNG that the shuffle, the neighbour sampler (our
sampler's own generator, or torch's global one that PyG's torch_sparse sampler draws from),
dropout and the LSTM order use."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from pyg_course.datasets import csbm
from pyg_course.nn.models import GraphSAGE
from pyg_course.train import TrainConfig, load_checkpoint, run_experiment, save_atomic


class Killed(Exception):
    pass


def _data():
    return csbm(num_nodes=400, num_classes=3, num_features=8, num_train_per_class=30,
                num_val=100, num_test=200, seed=3)


def _config(num_workers=0, sampler="pyg_course"):
    return TrainConfig(epochs=4, mode="minibatch", num_neighbors=[5, 3], batch_size=30,
                       eval_batch_size=128, num_workers=num_workers, sampler=sampler,
                       progress=False, device="cpu")


def _strip(history):
    return [[{k: v for k, v in h.items() if k != "time"} for h in run] for run in history]


def _kill_mid_epoch(tmp_path, aggr, num_workers, sampler="pyg_course"):
    """An uninterrupted 2-seed experiment, and the same one killed in batch 2 of epoch 3 of
    the second run."""
    data, cfg = _data(), _config(num_workers, sampler)
    kw = dict(aggr=aggr, dropout=0.5, aggr_channels=8 if aggr == "lstm" else None)
    clean = run_experiment(lambda: GraphSAGE(8, 16, 2, 3, **kw), data, cfg, runs=2, seed=7,
                           out=tmp_path / "clean")
    steps = {"n": 0}

    class Dying(GraphSAGE):
        def forward(self, *args, **kwargs):
            if self.training:
                steps["n"] += 1
                if steps["n"] == 4 * 3 + 2 * 3 + 2:  # 90 training nodes / 30 = 3 batches
                    raise Killed
            return super().forward(*args, **kwargs)

    with pytest.raises(Killed):
        run_experiment(lambda: Dying(8, 16, 2, 3, **kw), data, cfg, runs=2, seed=7,
                       out=tmp_path / "killed")
    ckpt = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert ckpt["run"] == 1 and ckpt["trainer"]["epoch"] == 2
    resume = lambda: run_experiment(lambda: GraphSAGE(8, 16, 2, 3, **kw), data, cfg,  # noqa
                                    runs=2, seed=7, out=tmp_path / "killed", resume=True)
    return clean, resume


@pytest.mark.parametrize("aggr,num_workers,sampler", [("mean", 0, "pyg_course"),
                                                      ("lstm", 1, "pyg_course"),
                                                      ("mean", 0, "pyg")])
def test_exception_mid_epoch_then_resume_is_exact(tmp_path, aggr, num_workers, sampler):
    clean, resume = _kill_mid_epoch(tmp_path, aggr, num_workers, sampler)
    resumed = resume()
    assert resumed["runs"] == clean["runs"]
    assert _strip(resumed["history"]) == _strip(clean["history"])
    a = torch.load(tmp_path / "clean" / "model.pt")
    b = torch.load(tmp_path / "killed" / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("state", ["torch", "sampler"])
def test_resume_without_the_rng_state_differs(tmp_path, state):
    """The exactness above is not vacuous: replace the saved state of torch's generator or of
    the sampler's own, and the continued run samples other mini-batches or dropout masks."""
    clean, resume = _kill_mid_epoch(tmp_path, "mean", 0)
    path = tmp_path / "killed" / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    other = torch.Generator().manual_seed(999).get_state()
    if state == "torch":
        ckpt["trainer"]["rng"]["torch"] = other
    else:
        assert ckpt["trainer"]["sampler_rng"] is not None
        ckpt["trainer"]["sampler_rng"] = other
    save_atomic(ckpt, path)
    resumed = resume()
    assert _strip(resumed["history"])[0] == _strip(clean["history"])[0]  # first run kept
    assert _strip(resumed["history"])[1] != _strip(clean["history"])[1]


DRIVER = textwrap.dedent("""
    import os, signal, sys
    import torch
    from pyg_course.datasets import csbm
    from pyg_course.nn.models import GraphSAGE
    from pyg_course.train import TrainConfig, run_experiment

    out, kill_at = sys.argv[1], int(sys.argv[2])
    data = csbm(num_nodes=400, num_classes=3, num_features=8, num_train_per_class=30,
                num_val=100, num_test=200, seed=3)
    cfg = TrainConfig(epochs=3, mode="minibatch", num_neighbors=[5, 3], batch_size=30,
                      eval_batch_size=128, progress=False, device="cpu")
    steps = [0]

    class Model(GraphSAGE):
        def forward(self, *args, **kwargs):
            if self.training:
                steps[0] += 1
                if steps[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return super().forward(*args, **kwargs)

    res = run_experiment(lambda: Model(8, 16, 2, 3, dropout=0.5), data, cfg, runs=1, seed=11,
                         out=out, resume=os.path.exists(os.path.join(out, "checkpoint.pt")))
    print("FINAL", repr(res["runs"][0]["test_acc"]), repr(res["history"][0][-1]["loss"]))
""")


def test_sigkill_mid_epoch_then_resume_is_exact(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(out, kill_at):
        return subprocess.run([sys.executable, str(script), str(out), str(kill_at)], env=env,
                              capture_output=True, text=True, timeout=300)

    clean = run(tmp_path / "clean", 0)
    assert clean.returncode == 0, clean.stderr[-2000:]
    killed = run(tmp_path / "killed", 3 * 2 + 2)  # batch 2 of epoch 3
    assert killed.returncode == -signal.SIGKILL
    # Checkpoints are written in the background (CheckpointWriter): the file on disk is the
    # last epoch's or, if SIGKILL came while that one was being written, the one before.
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["trainer"]["epoch"] in (1, 2)
    resumed = run(tmp_path / "killed", 0)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = [line for line in clean.stdout.splitlines() if line.startswith("FINAL")]
    assert final and final == [line for line in resumed.stdout.splitlines()
                               if line.startswith("FINAL")]
    a = torch.load(tmp_path / "clean" / "model.pt")
    b = torch.load(tmp_path / "killed" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pack_round_trips_records_and_passes_unpacked_content():
    from pyg_course.train.checkpoint import pack, unpack

    records = [{"epoch": 1, "val_acc": 0.5, "loss": float("inf")}, {"epoch": 2, "val_acc": 0.25}]
    blob = pack(records)
    assert isinstance(blob, bytes) and unpack(blob) == records
    assert unpack(records) is records  # a checkpoint written before packing


def test_checkpoint_writer_snapshots_then_writes_in_the_background(tmp_path):
    from pyg_course.train import CheckpointWriter

    path = tmp_path / "ck.pt"
    weight = torch.zeros(3)
    with CheckpointWriter() as writer:
        writer.submit({"w": weight, "epoch": 1}, path)
        weight += 1  # training goes on: the checkpoint must hold the submitted values
        writer.submit({"w": weight, "epoch": 2}, path)
        weight += 1
    ck = load_checkpoint(path)
    assert ck["epoch"] == 2 and torch.equal(ck["w"], torch.ones(3))
    # A module's state dict keeps its version metadata through the snapshot.
    state = torch.nn.BatchNorm1d(3).state_dict()
    with CheckpointWriter() as writer:
        writer.submit({"model": state}, path)
    assert load_checkpoint(path)["model"]._metadata == state._metadata
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary file left


def test_checkpoint_writer_reraises_a_failed_write(tmp_path):
    from pyg_course.train import CheckpointWriter

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the checkpoint's folder should be")
    writer = CheckpointWriter()
    writer.submit({"epoch": 1}, blocker / "ck.pt")
    with pytest.raises(OSError):
        writer.flush()
    writer.flush()  # the error is reported once
