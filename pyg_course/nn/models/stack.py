"""What the stacked-layer models (GCN, GraphSAGE, GAT, DeepGNN) share."""

from __future__ import annotations

from typing import Optional

import torch


class LayerStack(torch.nn.Module):
    """Base of a model made of ``self.convs``: records the sizes PyG's models record
    (``in_channels``, ``hidden_channels``, ``num_layers``, ``out_channels``, which defaults to
    ``hidden_channels``), rejects ``num_layers < 1``, resets every layer and prints as
    ``Name(in, out, num_layers=L, ...)`` with :meth:`extra_options` appended.
    """

    #: ``torch.sparse`` features are used as they are (sparse input dropout and first product).
    supports_sparse_features = True

    convs: torch.nn.ModuleList

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int,
                 out_channels: Optional[int]):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be at least 1 "
                             f"(got {num_layers})")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.out_channels = hidden_channels if out_channels is None else out_channels

    def reset_parameters(self):
        for conv in self.convs:
            conv.reset_parameters()

    def extra_options(self) -> str:
        """``", key=value"`` pairs printed after ``num_layers`` (none by default)."""
        return ""

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"num_layers={self.num_layers}{self.extra_options()})")
