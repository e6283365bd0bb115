"""Whole models built from the conv layers."""

from pyg_course.nn.models.deep_gnn import DeepGNN
from pyg_course.nn.models.deepwalk import DeepWalk
from pyg_course.nn.models.gat import GAT, attention_entropy
from pyg_course.nn.models.gcn import GCN
from pyg_course.nn.models.graphsage import GraphSAGE
from pyg_course.utils.sparse import sparse_dropout

__all__ = ["GAT", "GCN", "DeepGNN", "DeepWalk", "GraphSAGE", "attention_entropy",
           "sparse_dropout"]
