"""Shared fixtures: real data (from $PYG_COURSE_DATA or the package's own copy) and seeded
randomness."""

import pytest
import torch

from pyg_course.datasets import load_dataset


def _load(name):
    """$PYG_COURSE_DATA's copy where set (CI sets it), else the copy shipped in the package."""
    return load_dataset(name)


@pytest.fixture(scope="session")
def cora():
    """Cora (public Planetoid split); the tests must not modify it."""
    return _load("Cora")


@pytest.fixture(scope="session")
def citeseer():
    return _load("CiteSeer")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(12345)
    yield
