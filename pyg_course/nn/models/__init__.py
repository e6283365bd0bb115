"""Whole models built from the conv layers."""

from pyg_course.nn.models.deep_gnn import DeepGNN
from pyg_course.nn.models.deepwalk import DeepWalk
from pyg_course.nn.models.gat import GAT
from pyg_course.nn.models.gcn import GCN
from pyg_course.nn.models.graphsage import GraphSAGE

__all__ = ["GAT", "GCN", "DeepGNN", "DeepWalk", "GraphSAGE"]
