"""Quoting an exception inside a one-line error message."""

from __future__ import annotations


def describe_error(exc: BaseException) -> str:
    """``"TypeName: first line of the message"`` (at most 200 characters of it): an exception
    quoted inside one-line error messages about a file that could not be read."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__
