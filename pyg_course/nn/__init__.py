"""Layers, models and losses. ``from pyg_course.nn import GCNConv`` works like PyG's."""

from pyg_course.nn import models
from pyg_course.nn.conv import GATConv, GCNConv, GeneralConv, SAGEConv, gcn_norm
from pyg_course.nn.models.deepwalk import DeepWalk
from pyg_course.nn.unsup_loss import UnsupervisedSAGELoss

__all__ = [
    "DeepWalk",
    "GATConv",
    "GCNConv",
    "GeneralConv",
    "SAGEConv",
    "UnsupervisedSAGELoss",
    "gcn_norm",
    "models",
]
