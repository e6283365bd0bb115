"""Argparse option types and path helpers shared by :mod:`pyg_course.train.cli`, the scripts
and the benchmarks. A bad value ends the command with argparse's one-line
``error: argument --x: ...`` (exit status 2)."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any, Optional


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None


def positive_int(text: str) -> int:
    """``type=`` of an integer option that must be at least 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """``type=`` of an integer option that must be at least 0."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """``type=`` of a finite number > 0 (e.g. a learning rate)."""
    value = _number(text, float)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """``type=`` of a finite number >= 0 (e.g. a weight decay)."""
    value = _number(text, float)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def probability(text: str) -> float:
    """``type=`` of a dropout probability, in [0, 1) (1 would drop every value)."""
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def unit_interval(text: str) -> float:
    """``type=`` of a number in [0, 1], both ends included (e.g. an exponent between a sum
    and a mean)."""
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def on_off(text: str) -> bool:
    """``on`` or ``off`` as a bool (a switch whose default is decided elsewhere)."""
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text == "on"


def num_neighbors(text: str) -> int:
    """``type=`` of one ``--num-neighbors`` value: ``-1`` (all neighbours) or at least 1."""
    value = _number(text, int)
    if value != -1 and value < 1:
        raise argparse.ArgumentTypeError(f"each value must be -1 (all) or at least 1, got {value}")
    return value


def out_folder_error(out: str) -> Optional[str]:
    """Why ``out`` cannot be (created as) an output folder, or ``None``: the folder, or the
    first of its parents that exists, must be a writable folder."""
    path = Path(out).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    if not path.is_dir():
        return f"{path} is a file, not a folder"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{path} is not a writable folder"
    return None


def out_prefix(out: str, stem: str) -> Path:
    """``--out`` of a script that writes ``<prefix>.csv``, ``<prefix>.png``, ...: a folder
    (ending in a separator, or existing) gets ``<folder>/<stem>``."""
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        return Path(out) / stem
    return Path(out)
