"""Atomic checkpoints that carry everything needed to resume bit-for-bit: model, optimizer,
loop state and every random number generator."""

from __future__ import annotations

import copy
import os
import pickle
import random
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from pyg_course.utils.errors import describe_error


def rng_state() -> Dict[str, Any]:
    """The state of torch's (CPU and CUDA), NumPy's and Python's generators."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def pack(records: Any) -> bytes:
    """Plain-Python checkpoint content (the per-epoch metric records), pickled in one go.

    ``torch.save`` pickles object by object through a Python hook: the 7,000 epoch records of a
    10-seed GAT experiment took 50 ms per checkpoint, written every epoch (as long as the
    training step itself); as one ``bytes`` object they take 5 ms. No tensors inside."""
    return pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(blob: Any) -> Any:
    """Inverse of :func:`pack`; content that was saved unpacked is returned as it is."""
    return pickle.loads(blob) if isinstance(blob, bytes) else blob


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``:
    a reader (or a resume after a kill) sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _cpu_snapshot(obj: Any) -> Any:
    """A deep copy of ``obj`` whose tensors are CPU copies (checkpoints load to the CPU)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        out = type(obj)((k, _cpu_snapshot(v)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):  # a module state dict's version information
            out._metadata = copy.deepcopy(obj._metadata)
        return out
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_cpu_snapshot(v) for v in obj)
    return copy.deepcopy(obj)


class CheckpointWriter:
    """Writes checkpoints with :func:`save_atomic` on a background thread, one at a time, so
    that serialising and fsyncing epoch ``k``'s checkpoint overlaps epoch ``k + 1``'s training
    (a per-epoch checkpoint of a CiteSeer LSTM GraphSAGE is 30 MB: about 150 ms to write, a
    third of the epoch).

    :meth:`submit` first waits for the previous write, then snapshots ``obj`` (a deep copy on
    the CPU: the model and optimizer tensors in it keep changing, and a GPU run should not hold
    a second copy of them in GPU memory) and starts writing the snapshot. So
    the file on disk is the last checkpoint or the one before it, never more than one behind
    and never half written; :meth:`flush` waits for the write in flight and re-raises its error.
    Used as a context manager it flushes on exit, so a run that stops (an exception included)
    leaves its last checkpoint on disk.
    """

    def __init__(self) -> None:
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None

    def submit(self, obj: Any, path: str | os.PathLike) -> None:
        self.flush()
        snapshot = _cpu_snapshot(obj)

        def write() -> None:
            try:
                save_atomic(snapshot, path)
            except BaseException as exc:  # re-raised by flush() in the training thread
                self._error = exc

        self._thread = threading.Thread(target=write, name="checkpoint-writer")
        self._thread.start()

    def flush(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()
        else:  # the run failed: keep its error, but still finish the write in flight
            try:
                self.flush()
            except Exception:
                pass


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: unreadable, not a training checkpoint, or written by
    a run with other settings. The message names the file and what to do."""


def load_checkpoint(path: str | os.PathLike) -> Optional[Dict[str, Any]]:
    """The checkpoint at ``path``, or ``None`` if there is none; :class:`CheckpointError` if
    the file cannot be read (truncated, empty, not written by ``torch.save``)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # whatever the unpickler trips over, the file is the cause
        raise CheckpointError(f"cannot read the checkpoint {path} ({describe_error(exc)}); "
                              f"delete it, or run without --resume to start over") from exc


_UNSET = object()


def _show(value: Any) -> str:
    if value is _UNSET:
        return "(unset)"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def _differences(saved: Dict[str, Any], current: Dict[str, Any],
                 names: Optional[List[str]] = None) -> List[str]:
    """``"name old -> new"`` for each of ``names`` (default: both dicts' keys) that differs."""
    names = list(dict.fromkeys([*current, *saved])) if names is None else names
    return [f"{k} {_show(saved.get(k, _UNSET))} -> {_show(current.get(k, _UNSET))}"
            for k in names if saved.get(k, _UNSET) != current.get(k, _UNSET)]


def check_resumable(state: Any, path: str | os.PathLike, kind: str, flags: Dict[str, Any],
                    settings: Optional[Dict[str, Any]] = None) -> None:
    """Raise :class:`CheckpointError` unless the checkpoint ``state`` (read from ``path``) was
    written by a ``kind`` run (``"supervised"`` or ``"unsupervised"``) with the same ``flags``
    (``{"--flag": value}``: the options that define the run) and ``settings`` (other values that
    define it, ``{name: value}``). The error is one line naming each value that differs, old
    -> new. The number of runs is not compared (an experiment may grow). A checkpoint written
    before checkpoints recorded ``flags`` is compared on what it recorded (``config``,
    ``seed``)."""
    if not isinstance(state, dict) or not {"run", "completed", "trainer"} <= state.keys():
        raise CheckpointError(f"{path} is not a training checkpoint; delete it, or run without "
                              f"--resume to start over")
    written = state.get("kind") or ("supervised" if "runs" in state else "unsupervised")
    if written != kind:
        raise CheckpointError(
            f"resume: the checkpoint {path} was written by {written} training "
            f"({'with' if written == 'unsupervised' else 'without'} --unsupervised), this run "
            f"is {kind}; use the same arguments or another --out")

    def defining(d: Dict[str, Any]) -> Dict[str, Any]:
        return {k: v for k, v in d.items() if k not in ("runs", "--runs")}

    flags, settings = defining(flags), defining(settings or {})
    if "flags" in state:
        # The flags name what differs in the command's words; the other settings (which the
        # flags usually determine) only where the flags agree, and where the checkpoint
        # recorded them.
        diffs = _differences(defining(state["flags"]), flags)
        if not diffs and "settings" in state:
            diffs = _differences(defining(state["settings"]), settings)
    else:  # written before checkpoints recorded the flags: compare what it did record
        saved = {**state.get("config", {}), **{k: state[k] for k in ("seed",) if k in state}}
        current = {**settings, **{k[2:].replace("-", "_"): v for k, v in flags.items()}}
        diffs = _differences(saved, current, [k for k in saved if k in current])
    if diffs:
        raise CheckpointError(f"resume: the checkpoint {path} was written with other settings: "
                              f"{', '.join(diffs)}; use the same arguments or another --out")
