"""convexnet: neural networks trained to a certified global optimum.

The public API lives here; every other module is private unless documented
(``convexnet.patterns`` and ``convexnet.deep_linear`` are public modules).
"""

from convexnet import deep_linear, patterns
from convexnet.baselines import train_two_layer_nonconvex
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
from convexnet.estimators import ConvexReLUClassifier, ConvexReLURegressor
from convexnet.losses import CrossEntropyLoss, LogisticLoss, SquaredLoss, get_loss
from convexnet.networks import TwoLayerNetwork
from convexnet.patterns import ActivationPatterns, enumerate_patterns, sample_patterns
from convexnet.training import TwoLayerFit, train_two_layer

__version__ = "0.1.0"

__all__ = [
    "ActivationPatterns",
    "Certificate",
    "ConvexReLUClassifier",
    "ConvexReLURegressor",
    "CrossEntropyLoss",
    "DeepLinearRegressor",
    "LogisticLoss",
    "SquaredLoss",
    "TwoLayerFit",
    "TwoLayerNetwork",
    "check_rank_one_aligned",
    "deep_linear",
    "enumerate_patterns",
    "factorize",
    "gap_stairs",
    "get_loss",
    "parallel_min_norm",
    "patterns",
    "sample_patterns",
    "standard_min_norm",
    "train_two_layer",
    "train_two_layer_nonconvex",
    "two_layer_linear",
    "__version__",
]
