"""DDP: two Gloo processes on the CPU, started by torchrun from the tests, train GraphSAGE on
disjoint shards of the training nodes. Mini-batch and full-batch runs end with identical
parameters on both ranks, full batch takes the single-process run's steps, an interrupted run
resumes exactly, and only rank 0 writes files (also through ``scripts/train_sage.py --ddp``)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from pyg_course.datasets import csbm
from pyg_course.nn.models import GraphSAGE
from pyg_course.train import TrainConfig, Trainer, load_checkpoint, run_experiment


def _torchrun(args, timeout=400):
    """``python -m torch.distributed.run --standalone --nproc_per_node 2 *args`` on one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _graph():
    """90 training nodes: two shards of 45 cover them all every epoch."""
    return csbm(num_nodes=400, num_classes=3, num_features=8, num_train_per_class=30,
                num_val=100, num_test=200, seed=3)


def _strip(history):
    return [{k: v for k, v in h.items() if k != "time"} for h in history]


# ---------------------------------------------------------------------------- mini-batch
WORKER = textwrap.dedent("""
    import sys
    import torch
    import torch.distributed as dist
    from pyg_course.datasets import csbm
    from pyg_course.nn.models import GraphSAGE
    from pyg_course.train import TrainConfig, run_experiment
    from pyg_course.train.distributed import DistributedTrainer, distributed

    out = sys.argv[1]
    data = csbm(num_nodes=400, num_classes=3, num_features=8, num_train_per_class=31,
                num_val=100, num_test=200, seed=3)
    cfg = TrainConfig(epochs=4, mode="minibatch", num_neighbors=[5, 3], batch_size=16,
                      eval_batch_size=128, progress=False)
    seen = {"init": None, "trainer": None, "seeds": []}

    class Recording(DistributedTrainer):
        def __init__(self, model, *args, **kwargs):
            seen["init"] = {k: v.clone() for k, v in model.state_dict().items()}
            super().__init__(model, *args, **kwargs)
            seen["trainer"] = self

        def train_epoch(self):
            self.train_sampler.set_epoch(self.epoch)
            ids = [data.train_mask.nonzero().view(-1)[i] for i in self.train_sampler]
            seen["seeds"].append(torch.stack(ids))
            return super().train_epoch()

    with distributed("cpu"):
        rank = dist.get_rank()
        res = run_experiment(lambda: GraphSAGE(8, 16, 2, 3, dropout=0.5), data, cfg, runs=1,
                             seed=5, out=out, trainer_cls=Recording)
        model = seen["trainer"].model
        torch.save({"params": model.state_dict(), "init": seen["init"],
                    "seeds": seen["seeds"], "test_acc": res["runs"][0]["test_acc"],
                    "backend": dist.get_backend()}, f"{out}/rank{rank}.pt")
""")


def test_two_process_gloo_run_ends_with_identical_parameters(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    proc = _torchrun([script, tmp_path])
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert r0["backend"] == "gloo"
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k
        assert torch.equal(r0["init"][k], r1["init"][k]), k
    assert any(not torch.equal(r0["params"][k], r0["init"][k]) for k in r0["params"])
    assert r0["test_acc"] == r1["test_acc"] and r0["test_acc"] > 0.6  # chance: 1/3
    # every epoch: disjoint shards of equal size covering all but (93 mod 2) training nodes,
    # reshuffled between epochs
    for s0, s1 in zip(r0["seeds"], r1["seeds"]):
        assert len(s0) == len(s1) == 46
        assert not set(s0.tolist()) & set(s1.tolist())
    assert not torch.equal(r0["seeds"][0], r0["seeds"][1])
    # only rank 0 wrote the experiment's files
    assert (tmp_path / "results.json").is_file() and (tmp_path / "checkpoint.pt").is_file()
    assert proc.stdout.count("test accuracy") == 1


# ---------------------------------------------------------------------------- full batch
FULL_WORKER = textwrap.dedent("""
    import sys
    import torch
    import torch.distributed as dist
    from pyg_course.nn.models import GraphSAGE
    from pyg_course.train import run_experiment
    from pyg_course.train.distributed import DistributedTrainer, distributed

    out = sys.argv[1]
    setup = torch.load(f"{out}/setup.pt", weights_only=False)
    seen = {}

    class Recording(DistributedTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["trainer"], seen["shards"] = self, []

        def _full_batch_train_nodes(self):
            nodes = super()._full_batch_train_nodes()
            seen["shards"].append(nodes.cpu())
            return nodes

    with distributed("cpu"):
        rank = dist.get_rank()
        for dropout in (0.0, 0.5):
            res = run_experiment(lambda: GraphSAGE(8, 16, 2, 3, dropout=dropout), setup["data"],
                                 setup["config"], runs=1, seed=5, trainer_cls=Recording)
            torch.save({"params": seen["trainer"].model.state_dict(), "shards": seen["shards"],
                        "history": res["history"][0]}, f"{out}/dropout{dropout}_rank{rank}.pt")

        # ranks seeded differently before building the trainer (a common way to get
        # different dropout masks) must still train on disjoint shards
        torch.manual_seed(100 + rank)
        trainer = DistributedTrainer(GraphSAGE(8, 16, 2, 3), setup["data"], setup["config"])
        torch.save([trainer.shard(e) for e in range(3)], f"{out}/rank_seeded_rank{rank}.pt")
""")


def _single_process_full_batch(data, config, dropout):
    """The parameters and history of the same experiment without DDP."""
    seen = {}

    class Keep(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["trainer"] = self

    res = run_experiment(lambda: GraphSAGE(8, 16, 2, 3, dropout=dropout), data, config, runs=1,
                         seed=5, trainer_cls=Keep)
    return seen["trainer"].model.state_dict(), res["history"][0]


def test_full_batch_ddp_equals_single_process_full_batch(tmp_path):
    """Each rank's loss is the mean over its shard; DDP averages the two gradients. With shards
    of equal size that cover every training node (90 nodes, 2 ranks), the average of the two
    shard means is the mean over all training nodes, so without dropout the DDP run takes the
    single-process run's steps (up to float rounding in the all-reduce). With dropout the ranks
    draw different masks (rank 1's RNG is re-seeded, rank 0 keeps the single-process stream),
    so that run must differ from the single-process one while both ranks stay identical. (With
    an odd number of training nodes one node sits out each epoch, so the two runs would differ
    slightly by design: equal shards matter more to DDP than using every node.)"""
    data, config = _graph(), TrainConfig(epochs=15, mode="full", progress=False, device="cpu")
    torch.save({"data": data, "config": config}, tmp_path / "setup.pt")
    script = tmp_path / "worker.py"
    script.write_text(FULL_WORKER)
    _torchrun([script, tmp_path])
    train_idx = set(data.train_mask.nonzero().view(-1).tolist())

    for dropout in (0.0, 0.5):
        r0, r1 = (torch.load(tmp_path / f"dropout{dropout}_rank{r}.pt") for r in (0, 1))
        for k in r0["params"]:
            assert torch.equal(r0["params"][k], r1["params"][k]), (dropout, k)
        assert _strip(r0["history"]) == _strip(r1["history"])
        assert len(r0["shards"]) == config.epochs
        for s0, s1 in zip(r0["shards"], r1["shards"]):
            assert len(s0) == len(s1) == 45
            assert not set(s0.tolist()) & set(s1.tolist())
            assert set(s0.tolist()) | set(s1.tolist()) == train_idx
        assert not torch.equal(r0["shards"][0], r0["shards"][1])

    ddp = torch.load(tmp_path / "dropout0.0_rank0.pt")
    params, history = _single_process_full_batch(data, config, dropout=0.0)
    assert history[-1]["test_acc"] > 0.6  # chance: 1/3
    for k in params:
        torch.testing.assert_close(ddp["params"][k], params[k], rtol=0, atol=1e-5)
    for key in ("loss", "val_loss", "train_loss"):
        torch.testing.assert_close(torch.tensor([h[key] for h in ddp["history"]]),
                                   torch.tensor([h[key] for h in history]), rtol=0, atol=1e-5)

    ddp = torch.load(tmp_path / "dropout0.5_rank0.pt")
    params, _ = _single_process_full_batch(data, config, dropout=0.5)
    assert any((ddp["params"][k] - params[k]).abs().max() > 1e-3 for k in params)

    u0, u1 = (torch.load(tmp_path / f"rank_seeded_rank{r}.pt") for r in (0, 1))
    for s0, s1 in zip(u0, u1):
        assert not set(s0.tolist()) & set(s1.tolist())


# ---------------------------------------------------------------------------- resume
RESUME_WORKER = textwrap.dedent("""
    import sys
    import torch
    import torch.distributed as dist
    from pyg_course.nn.models import GraphSAGE
    from pyg_course.train import run_experiment
    from pyg_course.train.distributed import DistributedTrainer, distributed

    base, phase = sys.argv[1], sys.argv[2]
    setup = torch.load(f"{base}/setup.pt", weights_only=False)
    steps = {"n": 0, "kill_at": None}
    seen = {}

    class Killed(Exception):
        pass

    class Dying(GraphSAGE):
        def forward(self, *args, **kwargs):
            if self.training:
                steps["n"] += 1
                if steps["n"] == steps["kill_at"]:
                    raise Killed
            return super().forward(*args, **kwargs)

    class Recording(DistributedTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["trainer"], seen["epochs_trained"] = self, 0

        def train_epoch(self):
            seen["epochs_trained"] += 1
            return super().train_epoch()

    with distributed("cpu"):
        rank = dist.get_rank()

        def run(name, mode, resume=False):
            # every rank gets its own --out: rank 1's must stay absent
            res = run_experiment(lambda: Dying(8, 16, 2, 3, dropout=0.5), setup["data"],
                                 setup["configs"][mode], runs=1, seed=7,
                                 out=f"{base}/{name}_{mode}/rank{rank}", resume=resume,
                                 trainer_cls=Recording)
            torch.save({"params": seen["trainer"].model.state_dict(), "run": res["runs"][0],
                        "history": res["history"][0], "epochs_trained": seen["epochs_trained"]},
                       f"{base}/record/{'resumed' if resume else name}_{mode}_rank{rank}.pt")

        for mode in setup["configs"]:
            if phase == "crash":
                run("clean", mode)
                steps.update(n=0, kill_at=setup["kill_at"][mode])
                try:
                    run("killed", mode)
                except Killed:
                    steps["kill_at"] = None
                else:
                    raise AssertionError("the killed run finished")
            else:
                run("killed", mode, resume=True)
""")

EPOCHS, KILLED_AFTER = 4, 2


def test_interrupted_ddp_run_resumes_exactly_and_only_rank0_writes(tmp_path):
    """Full batch and mini-batch, dropout on (so rank 1's own RNG stream matters): an exception
    in epoch 3 on both ranks, then a new torchrun launch with ``resume=True`` ends with the
    uninterrupted run's parameters, history and test accuracy. Each rank is given its own output
    folder; rank 1's never appears, and the resumed run reaches rank 1 through rank 0."""
    configs = {
        "full": TrainConfig(epochs=EPOCHS, mode="full", progress=False),
        "minibatch": TrainConfig(epochs=EPOCHS, mode="minibatch", num_neighbors=[5, 3],
                                 batch_size=16, eval_batch_size=128, progress=False),
    }
    # full batch: one step per epoch; mini-batch: 45 seeds per rank -> 3 batches, kill in batch 2
    kill_at = {"full": KILLED_AFTER + 1, "minibatch": 3 * KILLED_AFTER + 2}
    torch.save({"data": _graph(), "configs": configs, "kill_at": kill_at}, tmp_path / "setup.pt")
    (tmp_path / "record").mkdir()
    script = tmp_path / "worker.py"
    script.write_text(RESUME_WORKER)

    _torchrun([script, tmp_path, "crash"])
    for mode in configs:
        ckpt = load_checkpoint(tmp_path / f"killed_{mode}" / "rank0" / "checkpoint.pt")
        assert ckpt["trainer"]["epoch"] == KILLED_AFTER
        rngs = ckpt["trainer"]["rng_per_rank"]
        assert len(rngs) == 2 and not torch.equal(rngs[0]["torch"], rngs[1]["torch"])
    proc = _torchrun([script, tmp_path, "resume"])
    assert proc.stdout.count("test accuracy") == len(configs)  # rank 0 alone prints

    for mode in configs:
        for r in (0, 1):
            clean = torch.load(tmp_path / "record" / f"clean_{mode}_rank{r}.pt")
            resumed = torch.load(tmp_path / "record" / f"resumed_{mode}_rank{r}.pt")
            assert resumed["epochs_trained"] == EPOCHS - KILLED_AFTER  # continued, not restarted
            for k in clean["params"]:
                assert torch.equal(resumed["params"][k], clean["params"][k]), (mode, r, k)
            assert _strip(resumed["history"]) == _strip(clean["history"])
            assert resumed["run"] == clean["run"]
        assert clean["run"]["test_acc"] > 0.6  # chance: 1/3
        a = torch.load(tmp_path / f"clean_{mode}" / "rank0" / "model.pt")
        b = torch.load(tmp_path / f"killed_{mode}" / "rank0" / "model.pt")
        assert all(torch.equal(a[k], b[k]) for k in a)
        for name in ("clean", "killed"):
            folder = tmp_path / f"{name}_{mode}"
            assert {p.name for p in (folder / "rank0").iterdir()} == {
                "checkpoint.pt", "results.json", "history.csv", "curves.png", "model.pt"}
            assert not (folder / "rank1").exists()


# ---------------------------------------------------------------------------- the script
def test_train_sage_script_under_torchrun(cora, tmp_path):
    """``scripts/train_sage.py --ddp`` on Cora, two processes. ``sh`` gives each rank its own
    ``--out`` (``rank$RANK``, as on machines without a shared filesystem): only rank 0's
    folder may appear."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "train_sage.py"
    per_rank_out = ('py=$1 script=$2 out=$3; shift 3; '
                    'exec "$py" "$script" --out "$out/rank$RANK" "$@"')
    proc = _torchrun(["--no-python", "sh", "-c", per_rank_out, "sh", sys.executable, script,
                      tmp_path, "--ddp", "--no-progress", "--dataset", "Cora", "--mode",
                      "minibatch", "--num-neighbors", "10", "5", "--batch-size", "32",
                      "--epochs", "10", "--lr", "0.05", "--hidden", "16"])
    res = json.loads((tmp_path / "rank0" / "results.json").read_text())
    assert not (tmp_path / "rank1").exists()
    assert proc.stdout.count("test accuracy") == 1
    assert res["info"]["ddp"] and res["info"]["world_size"] == 2
    assert res["summary"]["test_acc_mean"] > 0.7  # an untrained / broken model: ~0.1-0.3
