"""Deep linear networks: exact optima, duality gaps and parallel networks (SPEC.md §2).

Public entry point; the code lives in :mod:`convexnet.closed_form.deep_linear` (closed forms)
and :mod:`convexnet.closed_form.deep_linear_estimator` (regularised training). See
``docs/deep_linear.md``.
"""

from convexnet.closed_form.deep_linear import (
    AlignmentReport,
    FactorizationResult,
    GapStairsResult,
    ParallelMinNormResult,
    StandardMinNormResult,
    check_rank_one_aligned,
    factorize,
    gap_stairs,
    min_norm_solution,
    network_output,
    parallel_min_norm,
    parallel_output,
    parallel_regularizer,
    schatten_norm,
    standard_min_norm,
)
from convexnet.closed_form.deep_linear_estimator import (
    DeepLinearRegressor,
    TwoLayerLinearResult,
    prox_schatten_power,
    two_layer_linear,
)

__all__ = [
    "AlignmentReport",
    "DeepLinearRegressor",
    "FactorizationResult",
    "GapStairsResult",
    "ParallelMinNormResult",
    "StandardMinNormResult",
    "TwoLayerLinearResult",
    "check_rank_one_aligned",
    "factorize",
    "gap_stairs",
    "min_norm_solution",
    "network_output",
    "parallel_min_norm",
    "parallel_output",
    "parallel_regularizer",
    "prox_schatten_power",
    "schatten_norm",
    "standard_min_norm",
    "two_layer_linear",
]
