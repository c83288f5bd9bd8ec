"""Deep ReLU networks: rank-one data, 1-D splines, parallel networks of any depth (SPEC.md §4).

Public entry point; the code lives in :mod:`convexnet.closed_form.rank_one`,
:mod:`convexnet.closed_form.splines`, :mod:`convexnet.programs.deep_relu` and
:mod:`convexnet.estimators_deep_relu`. See ``docs/deep_relu.md``.
"""

from convexnet.closed_form.rank_one import (
    RankOneResult,
    rank_one_decomposition,
    rank_one_min_norm,
    relu_network_output,
)
from convexnet.closed_form.splines import (
    SplineResult,
    function_space_cost,
    spline_interpolation,
    spline_lasso,
)
from convexnet.estimators_deep_relu import ConvexDeepReLURegressor
from convexnet.programs.deep_relu import (
    ParallelDeepReLUResult,
    branch_feature,
    parallel_deep_relu,
    parallel_network_output,
)

__all__ = [
    "ConvexDeepReLURegressor",
    "ParallelDeepReLUResult",
    "RankOneResult",
    "SplineResult",
    "branch_feature",
    "function_space_cost",
    "parallel_deep_relu",
    "parallel_network_output",
    "rank_one_decomposition",
    "rank_one_min_norm",
    "relu_network_output",
    "spline_interpolation",
    "spline_lasso",
]
