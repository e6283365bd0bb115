"""Evaluation of node embeddings and models: linear probes, multi-label F1."""

from pyg_course.metrics.probe import (
    evaluate_node_embeddings,
    linear_probe,
    multilabel_f1,
    top_k_predictions,
)
from pyg_course.metrics.smoothing import dirichlet_energy, mad, mad_gap

__all__ = ["evaluate_node_embeddings", "linear_probe", "multilabel_f1", "top_k_predictions",
           "dirichlet_energy", "mad", "mad_gap"]
