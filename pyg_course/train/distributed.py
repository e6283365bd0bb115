"""Multi-process data-parallel training with ``torch.distributed`` (DDP).

Start one process per device with ``torchrun``; every process runs the same script::

    torchrun --nproc_per_node 4 scripts/train_sage.py --ddp --mode minibatch ...

On several machines, run the same command on each with ``--nnodes``, ``--node_rank`` and the
rendezvous address of the first machine (``--master_addr``/``--master_port``, or
``--rdzv_backend c10d --rdzv_endpoint host:port``). The backend is NCCL on GPUs, Gloo on CPUs.

Each rank holds a full replica of the model and the graph; every epoch the training nodes are
shuffled with a seed shared by all ranks and cut into ``world_size`` disjoint shards of equal
size (``DistributedSampler`` with ``drop_last``: at most ``world_size - 1`` nodes sit out an
epoch, a different few each time). Each rank samples its mini-batches from its shard only, DDP
averages the gradients, so every rank takes the same optimizer step. In full-batch mode
(``--mode full``) each rank's loss is the mean over its shard; when the training nodes split
evenly the average of the shard means is the mean over all of them, so without dropout the run
equals single-process full-batch training (with dropout each rank draws its own masks). Rank 0
evaluates and broadcasts the metrics (so early stopping agrees everywhere), and only rank 0
prints, logs and writes checkpoints; a checkpoint carries every rank's RNG state, so
``--resume`` with the same number of processes continues exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from typing import Any, Dict, Iterator, Optional

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from pyg_course.train.checkpoint import rng_state, set_rng_state
from pyg_course.train.loop import (
    TrainConfig,
    Trainer,
    neighbor_loader,
    sampler_state,
    set_sampler_state,
)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in a non-distributed run): the process that logs and saves."""
    return rank() == 0


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (identity outside distributed runs)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise RuntimeError(f"distributed training: ${name} is not set; start the script with "
                           f"torchrun (e.g. torchrun --nproc_per_node 2 scripts/train_sage.py "
                           f"--ddp ...)")
    return int(value)


def check_torchrun() -> None:
    """Raise ``RuntimeError`` (saying how to start it) unless this process was started by
    ``torchrun``: a script checks it before loading data, :func:`distributed` again."""
    _env_int("RANK"), _env_int("WORLD_SIZE")


@contextlib.contextmanager
def distributed(device: str = "auto", backend: Optional[str] = None) -> Iterator[torch.device]:
    """Join the process group that ``torchrun`` set up (``$RANK``, ``$WORLD_SIZE``,
    ``$LOCAL_RANK``, ``$MASTER_ADDR``, ``$MASTER_PORT``) and leave it on exit.

    Yields this rank's device: ``cuda:$LOCAL_RANK`` (NCCL) when CUDA is available and
    ``device`` is not ``"cpu"``, else the CPU (Gloo). ``backend`` overrides the choice.
    """
    check_torchrun()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = torch.cuda.is_available() and str(device) != "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    dev = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    dist.init_process_group(backend or ("nccl" if use_cuda else "gloo"))
    try:
        yield dev
        # Every rank that finished leaves together: a rank tearing its connections down while
        # another is still in destroy_process_group can abort that one at exit.
        dist.barrier()
    finally:
        dist.destroy_process_group()


class DistributedTrainer(Trainer):
    """:class:`~pyg_course.train.Trainer` for one rank of a DDP run (the process group must
    be initialised, e.g. by :func:`distributed`). Pass it as ``trainer_cls`` to
    :func:`~pyg_course.train.run_experiment`, which then reads and writes checkpoints and
    results on rank 0 only.

    All ranks must build the model from the same seed; DDP also broadcasts rank 0's parameters
    when it wraps the model, and the shards follow rank 0's seed. After that each rank's global
    RNG is re-seeded with a rank offset, so dropout masks and neighbour samples differ between
    ranks.
    """

    def __init__(self, model: torch.nn.Module, data, config: TrainConfig, **kwargs):
        if not is_distributed():
            raise RuntimeError("DistributedTrainer needs an initialised process group; "
                               "use pyg_course.train.distributed.distributed() under torchrun")
        self.rank, self.world_size = rank(), world_size()
        # One seed shared by all ranks for the shards: rank 0's, so that ranks seeded
        # differently (e.g. torch.manual_seed(seed + rank)) still get disjoint shards.
        self.shard_seed = broadcast_object(torch.initial_seed() % (2**31))
        device = (f"cuda:{torch.cuda.current_device()}"
                  if dist.get_backend() == "nccl" else "cpu")
        config = dataclasses.replace(config, device=device,
                                     progress=config.progress and self.rank == 0)
        super().__init__(model, data, config, **kwargs)
        n_train = int(self.data.train_mask.sum())
        if n_train < self.world_size:
            raise ValueError(f"{n_train} training nodes cannot be split over "
                             f"{self.world_size} processes")
        self.train_module = DistributedDataParallel(
            self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.rank:
            torch.manual_seed(self.shard_seed + 1_000_003 * self.rank)

    def _make_train_loader(self):
        from torch.utils.data.distributed import DistributedSampler

        cfg = self.config
        train_idx = self.data.train_mask.nonzero().view(-1)
        self.train_sampler = DistributedSampler(
            range(train_idx.numel()), num_replicas=self.world_size, rank=self.rank,
            shuffle=True, seed=self.shard_seed, drop_last=True)
        return neighbor_loader(
            self.loader_data, cfg.num_neighbors, cfg.sampler,
            seed=self.shard_seed + 1_000_003 * self.rank, batch_size=cfg.batch_size,
            input_nodes=train_idx, sampler=self.train_sampler, num_workers=cfg.num_workers)

    def shard(self, epoch: int) -> Tensor:
        """The training nodes this rank trains on in ``epoch`` (disjoint across ranks)."""
        train_idx = self.data.train_mask.nonzero().view(-1)
        g = torch.Generator().manual_seed(self.shard_seed + epoch)
        perm = torch.randperm(train_idx.numel(), generator=g)
        usable = train_idx.numel() - train_idx.numel() % self.world_size
        return train_idx[perm[:usable][self.rank::self.world_size]]

    def _full_batch_train_nodes(self) -> Tensor:
        return self.shard(self.epoch).to(self.device)

    def train_epoch(self) -> float:
        if self.config.mode == "minibatch":
            self.train_sampler.set_epoch(self.epoch)
        loss = torch.tensor([super().train_epoch()], dtype=torch.float64)
        dist.all_reduce(loss)
        return float(loss) / self.world_size

    @torch.no_grad()
    def evaluate(self) -> Dict[str, float]:
        metrics = super().evaluate() if self.rank == 0 else None
        return broadcast_object(metrics)

    def state_dict(self) -> Dict[str, Any]:
        """Collective: every rank must call it (rank 0's copy holds every rank's RNG)."""
        state = super().state_dict()
        states = [None] * self.world_size
        dist.all_gather_object(states, (rng_state(), sampler_state(self.node_sampler)))
        state["rng_per_rank"] = [rng for rng, _ in states]
        state["sampler_rng_per_rank"] = [sampler for _, sampler in states]
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        super().load_state_dict(state)
        per_rank = state.get("rng_per_rank")
        if per_rank is not None and len(per_rank) == self.world_size:
            set_rng_state(per_rank[self.rank])
            samplers = state.get("sampler_rng_per_rank") or [None] * self.world_size
            set_sampler_state(self.node_sampler, samplers[self.rank])
        else:
            warnings.warn(f"resuming a checkpoint written by {len(per_rank or [None])} "
                          f"process(es) with {self.world_size}: training continues, but the "
                          f"random streams differ from the interrupted run", stacklevel=2)
            torch.manual_seed(self.shard_seed + 1_000_003 * self.rank + self.epoch)
