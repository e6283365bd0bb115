"""Message-passing layers, one file per operator."""

from pyg_course.nn.conv.gat_conv import GATConv, edge_softmax
from pyg_course.nn.conv.gcn_conv import GCNConv, gcn_norm
from pyg_course.nn.conv.general_conv import GeneralConv
from pyg_course.nn.conv.sage_conv import SAGEConv

__all__ = ["GATConv", "GCNConv", "GeneralConv", "SAGEConv", "edge_softmax", "gcn_norm"]
