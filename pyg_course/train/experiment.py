"""Multi-seed experiments: ``runs`` seeds, test accuracy at the best validation epoch reported
as mean ± std (OGB's protocol), a JSON of the results, a CSV of every epoch, a PNG of the
curves, and one checkpoint file that resumes an interrupted experiment where it stopped."""

from __future__ import annotations

import csv
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
from torch_geometric import seed_everything
from torch_geometric.data import Data

from pyg_course.train.checkpoint import (
    CheckpointError,
    CheckpointWriter,
    check_resumable,
    load_checkpoint,
    pack,
    save_atomic,
    unpack,
)
from pyg_course.train.distributed import broadcast_object, is_main_process
from pyg_course.train.loop import NonFiniteLossError, TrainConfig, Trainer, resolve_device
from pyg_course.utils.stats import mean_std

# Settings that may differ between an interrupted run and its resumption.
_RESUME_FREE = {"progress", "device", "num_workers", "eval_batch_size", "checkpoint_every"}


def run_experiment(
    build_model: Callable[[], torch.nn.Module],
    data: Data,
    config: TrainConfig,
    runs: int = 1,
    seed: int = 0,
    out: Optional[str | Path] = None,
    resume: bool = False,
    name: str = "experiment",
    info: Optional[Dict[str, Any]] = None,
    trainer_cls: type = Trainer,
    flags: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Train ``runs`` models (seeds ``seed, seed+1, ...``) built by ``build_model`` and report
    test accuracy at the best validation epoch as mean ± std.

    With ``out``, writes ``out/checkpoint.pt`` (atomically, every epoch, on a background thread
    while the next epoch trains: :class:`~pyg_course.train.checkpoint.CheckpointWriter`; the
    file is at most one epoch behind), ``out/results.json``,
    ``out/history.csv``, ``out/curves.png`` and ``out/model.pt`` (best weights of the last run).
    ``resume=True`` continues from ``out/checkpoint.pt``: finished runs are kept, the run in
    progress continues from its last epoch with the same optimizer and RNG state, so the final
    numbers equal those of an uninterrupted experiment. The checkpoint records what defines the
    experiment (``config`` less the settings that may change, ``runs``, ``seed``, ``name`` and
    the command's ``flags``, ``{"--flag": value}``, e.g. from
    :func:`~pyg_course.train.cli.run_flags`), and resuming refuses, with a
    :class:`~pyg_course.train.checkpoint.CheckpointError` naming each difference, a checkpoint
    written with other values. A run whose training loss becomes NaN or infinite stops with a
    :class:`~pyg_course.train.loop.NonFiniteLossError` naming the run and its seed.

    In a distributed run (``trainer_cls=DistributedTrainer``, every rank calling this with the
    same arguments) rank 0 reads the checkpoint and sends it to the others; only rank 0 prints
    and writes files.
    """
    main = is_main_process()
    out = Path(out) if out is not None else None
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    settings = {**{k: v for k, v in config.to_dict().items() if k not in _RESUME_FREE},
                "runs": runs, "seed": seed, "name": name}
    flags = dict(flags or {})
    record = {"kind": "supervised", "settings": settings, "flags": flags}
    state = None
    if resume:
        if out is None:
            raise ValueError("resume=True needs an output folder (--out) holding checkpoint.pt")
        if main:  # an unreadable file is every rank's error, not rank 0's alone
            try:
                state = load_checkpoint(ckpt_path)
            except CheckpointError as exc:
                state = exc
        state = broadcast_object(state)
        if isinstance(state, CheckpointError):
            raise state
        if state is None:
            if main:
                print(f"resume: no checkpoint in {out}, starting from scratch")
        else:
            check_resumable(state, ckpt_path, "supervised", flags, settings)
    completed: List[Dict[str, Any]] = unpack(state["completed"]) if state else []

    for r in range(len(completed), runs):
        seed_everything(seed + r)
        model = build_model()
        trainer = trainer_cls(model, data, config)
        if state is not None and state.get("trainer") is not None and state["run"] == r:
            trainer.load_state_dict(state["trainer"])

        packed = pack(completed)  # the finished runs, pickled once per run, not every epoch

        def save(trainer_state, r=r, packed=packed):
            if main:
                writer.submit({"run": r, "completed": packed, "trainer": trainer_state,
                               **record}, ckpt_path)

        label = f"{name} run {r + 1}/{runs}"
        try:
            with CheckpointWriter() as writer:  # each epoch's checkpoint is written while the
                result = trainer.fit(          # next epoch trains
                    checkpoint=save if out is not None else None, desc=label)
        except NonFiniteLossError as exc:
            raise NonFiniteLossError(f"{label} (seed {seed + r}): {exc}") from None
        result["seed"] = seed + r
        completed.append(result)
        if out is not None and main:
            torch.save(trainer.best_state, out / "model.pt")
            save_atomic({"run": r + 1, "completed": pack(completed), "trainer": None,
                         **record}, ckpt_path)
        if main:
            print(f"{label} (seed {seed + r}): test "
                  f"{100 * result['test_acc']:.2f} at best val {100 * result['val_acc']:.2f} "
                  f"(epoch {result['best_epoch']})")

    summary = {}
    for key in ("test_acc", "val_acc", "train_acc"):
        m, s = mean_std([r[key] for r in completed])
        summary[f"{key}_mean"], summary[f"{key}_std"] = m, s
    summary["epoch_time_mean"] = statistics.fmean(
        h["time"] for r in completed for h in r["history"])
    results = {
        "name": name,
        "runs": [{k: v for k, v in r.items() if k != "history"} for r in completed],
        "summary": summary,
        "config": config.to_dict(),
        "seed": seed,
        "info": info or {},
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "device": str(resolve_device(config.device)),
                    "date": time.strftime("%Y-%m-%d %H:%M:%S")},
    }
    if main:
        print(f"{name}: test accuracy {100 * summary['test_acc_mean']:.2f} ± "
              f"{100 * summary['test_acc_std']:.2f} over {runs} run(s)")
    if out is not None and main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
        write_history(completed, out / "history.csv")
        plot_curves(completed, out / "curves.png", title=name)
    results["history"] = [r["history"] for r in completed]
    return results


def write_history(completed: List[Dict[str, Any]], path: Path) -> None:
    rows = [{"run": i, **h} for i, r in enumerate(completed) for h in r["history"]]
    if not rows:
        return
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot_curves(completed: List[Dict[str, Any]], path: Path, title: str = "") -> None:
    """Training loss, validation loss and validation/test accuracy per epoch, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for i, r in enumerate(completed):
        ep = [h["epoch"] for h in r["history"]]
        lab = (lambda s: s) if i == 0 else (lambda s: None)  # noqa: E731 (legend once)
        ax_loss.plot(ep, [h["loss"] for h in r["history"]], "C0", alpha=0.5, label=lab("train"))
        ax_loss.plot(ep, [h["val_loss"] for h in r["history"]], "C1", alpha=0.5, label=lab("val"))
        ax_acc.plot(ep, [100 * h["val_acc"] for h in r["history"]], "C1", alpha=0.5,
                    label=lab("val"))
        ax_acc.plot(ep, [100 * h["test_acc"] for h in r["history"]], "C2", alpha=0.5,
                    label=lab("test"))
        ax_acc.axvline(r["best_epoch"], color="grey", lw=0.5, alpha=0.5)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy (grey: best val epoch)")
    ax_loss.legend()
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
