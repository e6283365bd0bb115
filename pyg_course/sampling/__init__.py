"""Pure-torch samplers: neighbour sampling for PyG's loaders, random walks (uniform and
node2vec-biased) and negative samplers."""

from pyg_course.sampling.negatives import (
    FarNegativeSampler,
    UnigramNegativeSampler,
    far_negatives,
    unigram_negatives,
)
from pyg_course.sampling.neighbor import NeighborSampler, uniform_subsets
from pyg_course.sampling.positives import WalkPositiveSampler, walk_positives
from pyg_course.sampling.random_walk import CSRGraph, random_walk

__all__ = ["CSRGraph", "FarNegativeSampler", "NeighborSampler", "UnigramNegativeSampler",
           "WalkPositiveSampler", "far_negatives", "random_walk", "uniform_subsets",
           "unigram_negatives", "walk_positives"]
