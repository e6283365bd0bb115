"""Graph augmentations as ``BaseTransform`` subclasses: structural node features for graphs
without useful features, and virtual nodes / edges for sparse graphs.

PyG's own transforms that already do the job are re-exported here, so one import gives the
whole set: ``Constant`` (constant feature), ``OneHotDegree``, ``LocalDegreeProfile``,
``AddRandomWalkPE`` and ``TwoHop``.
"""

from torch_geometric.transforms import (
    AddRandomWalkPE,
    Constant,
    LocalDegreeProfile,
    OneHotDegree,
    TwoHop,
)

from pyg_course.transforms.clustering_coefficient import (
    ClusteringCoefficient,
    clustering_coefficient,
)
from pyg_course.transforms.cycle_counts import CycleCounts, cycle_counts
from pyg_course.transforms.khop_virtual_edges import KHopVirtualEdges, khop_virtual_edges
from pyg_course.transforms.one_hot_node_id import OneHotNodeId
from pyg_course.transforms.pagerank import PageRank, pagerank
from pyg_course.transforms.virtual_node import VirtualNode

__all__ = [
    "AddRandomWalkPE",
    "ClusteringCoefficient",
    "Constant",
    "CycleCounts",
    "KHopVirtualEdges",
    "LocalDegreeProfile",
    "OneHotDegree",
    "OneHotNodeId",
    "PageRank",
    "TwoHop",
    "VirtualNode",
    "clustering_coefficient",
    "cycle_counts",
    "khop_virtual_edges",
    "pagerank",
]
