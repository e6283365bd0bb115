"""Real graph data read from a local folder, and synthetic graphs that need no files."""

from pyg_course.datasets.csbm import csbm
from pyg_course.datasets.loading import (
    DATASETS,
    DatasetCorruptError,
    DatasetNotFoundError,
    cache_root,
    check_features,
    load_dataset,
    num_classes,
)
from pyg_course.datasets.products import load_ogbn_products, synthetic_products

__all__ = [
    "DATASETS",
    "DatasetCorruptError",
    "DatasetNotFoundError",
    "cache_root",
    "check_features",
    "csbm",
    "load_dataset",
    "load_ogbn_products",
    "num_classes",
    "synthetic_products",
]
