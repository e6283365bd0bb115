"""Layers, models and losses. ``from pyg_course.nn import GCNConv`` works like PyG's."""

from pyg_course.nn import models
from pyg_course.nn.conv import GCNConv, gcn_norm

__all__ = ["GCNConv", "gcn_norm", "models"]
