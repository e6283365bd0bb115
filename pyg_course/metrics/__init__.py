"""Evaluation of embeddings and models: linear probes, multi-label F1, over-smoothing
measures, attention diagnostics."""

from pyg_course.metrics.attention import attention_entropy, plot_entropy, save_attention
from pyg_course.metrics.probe import (
    evaluate_node_embeddings,
    linear_probe,
    multilabel_f1,
    top_k_predictions,
)
from pyg_course.metrics.smoothing import dirichlet_energy, mad, mad_gap

__all__ = [
    "attention_entropy",
    "dirichlet_energy",
    "evaluate_node_embeddings",
    "linear_probe",
    "mad",
    "mad_gap",
    "multilabel_f1",
    "plot_entropy",
    "save_attention",
    "top_k_predictions",
]
