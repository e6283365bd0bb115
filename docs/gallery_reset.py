"""What sphinx-gallery calls before each tutorial: it runs them one after another in the
process that builds the docs, so a tutorial must not inherit global state from the previous
one (``torch.set_default_dtype``, ``torch.set_grad_enabled``); each starts as it does when run
on its own with ``python <script>``."""

import warnings

import torch

# Warnings about the local installation, not about the tutorial (the test suite ignores them
# too): they would print the installation's paths into a page's output.
IGNORED_WARNINGS = [
    "Sparse invariant checks are implicitly disabled",
    "Using 'NeighborSampler' without a 'pyg-lib' installation",
]


def reset_torch(gallery_conf, fname):
    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    torch.manual_seed(0)
    # One thread, as ``OMP_NUM_THREADS=1``: on the small graphs of the tutorials a second
    # thread gains little, and on a busy 2-core machine it makes training several times slower.
    torch.set_num_threads(1)
    for message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
