"""Multi-seed experiments: ``runs`` seeds, test accuracy at the best validation epoch reported
as mean ± std (OGB's protocol), a JSON of the results, a CSV of every epoch, a PNG of the
curves, and one checkpoint file that resumes an interrupted experiment where it stopped.

One runner, :func:`run_experiment`, serves every :class:`~pyg_course.train.RunTrainer`:
:class:`~pyg_course.train.Trainer` (supervised, full-batch or mini-batch),
:class:`~pyg_course.train.distributed.DistributedTrainer`,
:class:`~pyg_course.train.unsupervised.UnsupervisedTrainer` and
:class:`~pyg_course.train.deepwalk.DeepWalkTrainer`."""

from __future__ import annotations

import csv
import json
import math
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
    """Train ``runs`` models (seeds ``seed, seed+1, ...``) built by ``build_model``, each with
    ``trainer_cls(model, data, config)``, and report test accuracy at the best validation epoch
    as mean ± std.

    With ``out``, writes ``out/checkpoint.pt`` (atomically, every epoch, on a background thread
    while the next epoch trains: :class:`~pyg_course.train.checkpoint.CheckpointWriter`; the
    file is at most one epoch behind), ``out/results.json``,
    ``out/history.csv``, ``out/curves.png`` and ``out/model.pt`` (best weights of the last run).
    ``resume=True`` continues from ``out/checkpoint.pt``: finished runs are kept, the run in
    progress continues from its last epoch with the same optimizer and RNG state, so the final
    numbers equal those of an uninterrupted experiment. The checkpoint records what defines the
    experiment (``config`` less :attr:`~pyg_course.train.TrainConfig.RESUME_FREE`, ``seed``,
    ``name``, the trainer's ``kind`` and the command's ``flags``, ``{"--flag": value}``, e.g.
    from :func:`~pyg_course.train.cli.run_flags`), and resuming refuses, with a
    :class:`~pyg_course.train.checkpoint.CheckpointError` naming each difference, a checkpoint
    written with other values. ``runs`` may grow on resume (the finished runs are kept and the
    next seeds trained), not fall below the runs already finished. A run whose training loss
    becomes NaN or infinite stops with a
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
    settings = {**{k: v for k, v in config.to_dict().items() if k not in config.RESUME_FREE},
                "seed": seed, "name": name}
    flags = dict(flags or {})
    kind = trainer_cls.kind
    record = {"kind": kind, "settings": settings, "flags": flags}
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
            check_resumable(state, ckpt_path, kind, flags, settings)
    completed: List[Dict[str, Any]] = unpack(state["completed"]) if state else []
    if len(completed) > runs:
        raise CheckpointError(f"resume: the checkpoint {ckpt_path} holds {len(completed)} "
                              f"finished runs, more than the {runs} asked for; ask for at "
                              f"least {len(completed)} runs or use another --out")
    if out is not None and main:
        out.mkdir(parents=True, exist_ok=True)

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
            print(f"{label} (seed {seed + r}): {trainer.describe(result)}", flush=True)

    summary = {}
    for key in trainer_cls.summary_keys(completed[0]):
        m, s = mean_std([r[key] for r in completed])
        summary[f"{key}_mean"], summary[f"{key}_std"] = m, s
    summary["epoch_time_mean"] = statistics.fmean(
        h["time"] for r in completed for h in r["history"])
    results = {
        "name": name,
        "kind": kind,
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
        if "test_acc_mean" in summary:
            scores = (f"test accuracy {100 * summary['test_acc_mean']:.2f} ± "
                      f"{100 * summary['test_acc_std']:.2f}")
        else:
            scores = ", ".join(f"{k} {summary[k + '_mean']:.4f} ± {summary[k + '_std']:.4f}"
                               for k in trainer_cls.summary_keys(completed[0]))
        print(f"{name}: {scores} over {len(completed)} run(s)")
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
    """Training loss, validation loss and validation/test accuracy per epoch, one line per run
    (an unsupervised run has no validation loss, and accuracies at its probed epochs only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for i, r in enumerate(completed):
        ep = [h["epoch"] for h in r["history"]]
        lab = (lambda s: s) if i == 0 else (lambda s: None)  # noqa: E731 (legend once)
        ax_loss.plot(ep, [h["loss"] for h in r["history"]], "C0", alpha=0.5, label=lab("train"))
        if "val_loss" in r["history"][0]:
            ax_loss.plot(ep, [h["val_loss"] for h in r["history"]], "C1", alpha=0.5,
                         label=lab("val"))
        for key, colour in (("val_acc", "C1"), ("test_acc", "C2")):
            probed = [(e, 100 * h[key]) for e, h in zip(ep, r["history"])
                      if h.get(key, math.nan) == h.get(key, math.nan)]
            if probed:
                ax_acc.plot(*zip(*probed), colour, marker="." if len(probed) < 20 else None,
                            alpha=0.5, label=lab(key[:-4]))
        ax_acc.axvline(r["best_epoch"], color="grey", lw=0.5, alpha=0.5)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy (grey: best val epoch)")
    for ax in (ax_loss, ax_acc):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
