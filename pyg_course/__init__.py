"""pyg_course: graph representation learning as tested PyTorch Geometric layers."""

__version__ = "0.1.0"
