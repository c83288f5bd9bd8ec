"""convexnet: neural networks trained to a certified global optimum.

The public API lives here; every other module is private unless documented
(``convexnet.patterns``, ``convexnet.deep_linear`` and ``convexnet.deep_relu`` are public
modules).
"""

from convexnet import deep_linear, deep_relu, patterns
from convexnet.baselines import train_three_layer_nonconvex, train_two_layer_nonconvex
from convexnet.certificates import Certificate
from convexnet.deep_linear import (
    DeepLinearRegressor,
    check_rank_one_aligned,
    factorize,
    gap_stairs,
    parallel_min_norm,
    standard_min_norm,
    two_layer_linear,
)
from convexnet.deep_relu import (
    ConvexDeepReLURegressor,
    parallel_deep_relu,
    rank_one_min_norm,
    spline_interpolation,
    spline_lasso,
)
from convexnet.estimators import ConvexReLUClassifier, ConvexReLURegressor, alpha_grid
from convexnet.estimators_three_layer import ConvexThreeLayerClassifier, ConvexThreeLayerRegressor
from convexnet.losses import CrossEntropyLoss, LogisticLoss, SquaredLoss, get_loss
from convexnet.model_selection import ConvexReLUCV
from convexnet.networks import TwoLayerNetwork
from convexnet.patterns import ActivationPatterns, enumerate_patterns, sample_patterns
from convexnet.solvers.first_order import solve_two_layer_first_order
from convexnet.three_layer import train_three_layer
from convexnet.training import TwoLayerFit, train_two_layer

__version__ = "0.1.0"

__all__ = [
    "ActivationPatterns",
    "Certificate",
    "ConvexDeepReLURegressor",
    "ConvexReLUCV",
    "ConvexReLUClassifier",
    "ConvexReLURegressor",
    "ConvexThreeLayerClassifier",
    "ConvexThreeLayerRegressor",
    "CrossEntropyLoss",
    "DeepLinearRegressor",
    "LogisticLoss",
    "SquaredLoss",
    "TwoLayerFit",
    "TwoLayerNetwork",
    "alpha_grid",
    "check_rank_one_aligned",
    "deep_linear",
    "deep_relu",
    "enumerate_patterns",
    "factorize",
    "gap_stairs",
    "get_loss",
    "parallel_deep_relu",
    "parallel_min_norm",
    "patterns",
    "rank_one_min_norm",
    "sample_patterns",
    "solve_two_layer_first_order",
    "spline_interpolation",
    "spline_lasso",
    "standard_min_norm",
    "train_three_layer",
    "train_three_layer_nonconvex",
    "train_two_layer",
    "train_two_layer_nonconvex",
    "two_layer_linear",
    "__version__",
]
