"""pyg_course: graph representation learning as tested PyTorch Geometric layers."""

import warnings

# torch warns once per process that CSR tensors are "beta" the first time one is built; our
# sparse features and adjacencies are CSR on purpose (tested against dense references), so the
# notice says nothing to our users and hides the warnings that do. Only this message is silenced.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state",
                        category=UserWarning)

__version__ = "0.1.0"
