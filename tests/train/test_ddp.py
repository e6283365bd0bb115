"""DDP: two Gloo processes on the CPU, started by torchrun from the test, train mini-batch
GraphSAGE on disjoint shards of the training nodes and end with identical parameters."""

import os
import subprocess
import sys
import textwrap

import torch

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
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
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
