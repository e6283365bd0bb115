"""Dense reference formulas and tagged toy graphs that the tests compare the layers with."""

from pyg_course.testing.dense import dense_adjacency, dense_gcn
from pyg_course.testing.graphs import TOY_GRAPHS, toy_graph

__all__ = ["TOY_GRAPHS", "dense_adjacency", "dense_gcn", "toy_graph"]
