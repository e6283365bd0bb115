"""Message-passing layers, one file per operator."""

from pyg_course.nn.conv.gcn_conv import GCNConv, gcn_norm

__all__ = ["GCNConv", "gcn_norm"]
