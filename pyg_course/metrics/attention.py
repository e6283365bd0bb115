"""Attention diagnostics: per-node attention entropy of a trained GAT against uniform
attention, saved and plotted (``scripts/train_gat.py --save-attention``)."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.utils import scatter


def attention_entropy(edge_index: Tensor, alpha: Tensor, num_nodes: int) -> Tuple[Tensor, Tensor]:
    r"""Entropy of each node's attention over its incoming edges, and that of uniform attention.

    .. math::
        H_i = -\sum_{j \in \mathcal{N}(i)} \alpha_{ij} \log \alpha_{ij}, \qquad
        H_i^{\mathrm{uniform}} = \log |\mathcal{N}(i)|

    A node whose learned entropy is close to :math:`\log |\mathcal{N}(i)|` weighs its
    neighbours (about) equally, as a GCN would; a much lower one has learned to pick some.

    Args:
        edge_index: ``(2, E)`` edges ``src -> dst`` the attention refers to.
        alpha: attention :math:`(E)` or :math:`(E, K)` (one column per head).
        num_nodes: number of target nodes.

    Returns:
        ``(entropy, uniform)``: :math:`(N)` or :math:`(N, K)` learned entropies, and the
        :math:`(N)` entropies of uniform attention; nodes without incoming edges get 0.
    """
    dst = edge_index[1]
    terms = -alpha * torch.log(alpha.clamp_min(torch.finfo(alpha.dtype).tiny))
    entropy = scatter(terms, dst, dim=0, dim_size=num_nodes, reduce="sum")
    deg = scatter(torch.ones_like(dst, dtype=alpha.dtype), dst, dim=0, dim_size=num_nodes,
                  reduce="sum")
    return entropy, deg.clamp_min(1.0).log()


def save_attention(model, data, out: Path, title: str) -> dict:
    """Attention of ``model`` (eval mode, full graph) per layer, its per-node entropy, a plot."""
    model.eval()
    with torch.no_grad():
        _, attention = model(data.x, data.edge_index, return_attention_weights=True)
    layers = []
    for edge_index, alpha in attention:
        entropy, uniform = attention_entropy(edge_index, alpha, data.num_nodes)
        layers.append({"edge_index": edge_index, "alpha": alpha, "entropy": entropy,
                       "uniform_entropy": uniform})
    torch.save(layers, out / "attention.pt")
    plot_entropy(layers, out / "attention_entropy.png", title)
    return {f"layer{i + 1}": {"entropy_mean": float(layer["entropy"].mean()),
                              "uniform_entropy_mean": float(layer["uniform_entropy"].mean())}
            for i, layer in enumerate(layers)}


def plot_entropy(layers, path: Path, title: str) -> None:
    """Per layer: each node's learned attention entropy (mean over heads) against that of
    uniform attention, log(in-degree); points on the diagonal attend uniformly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(layers), figsize=(5 * len(layers), 4.5), squeeze=False)
    for i, (ax, layer) in enumerate(zip(axes[0], layers)):
        entropy = layer["entropy"]
        learned = (entropy.mean(1) if entropy.dim() == 2 else entropy).numpy()
        uniform = layer["uniform_entropy"].numpy()
        top = float(max(learned.max(), uniform.max())) * 1.05
        ax.plot([0, top], [0, top], color="grey", lw=1, label="uniform attention")
        ax.scatter(uniform, learned, s=4, alpha=0.4, color="C3", label="nodes (mean over heads)")
        ax.set(xlabel="uniform entropy log(in-degree) (nats)", ylabel="learned entropy (nats)",
               title=f"layer {i + 1}: mean {learned.mean():.4f} vs uniform {uniform.mean():.4f}",
               xlim=(0, top), ylim=(0, top))
        ax.legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
