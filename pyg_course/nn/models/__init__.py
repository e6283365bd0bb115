"""Whole models built from the conv layers."""

from pyg_course.nn.models.gcn import GCN, sparse_dropout

__all__ = ["GCN", "sparse_dropout"]
