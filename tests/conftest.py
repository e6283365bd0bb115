"""Shared fixtures: real data from $PYG_COURSE_DATA (CI sets it) and seeded randomness."""

import os

import pytest
import torch

from pyg_course.datasets import load_dataset


def _load(name):
    root = os.environ.get("PYG_COURSE_DATA")
    if not root or not os.path.isdir(os.path.join(root, name, "raw")):
        pytest.skip(f"{name} raw files not found: set PYG_COURSE_DATA to a folder with {name}/raw")
    return load_dataset(name)


@pytest.fixture(scope="session")
def cora():
    """Cora (public Planetoid split) from $PYG_COURSE_DATA; the tests must not modify it."""
    return _load("Cora")


@pytest.fixture(scope="session")
def citeseer():
    return _load("CiteSeer")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(12345)
    yield
