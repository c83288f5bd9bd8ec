"""convexnet: neural networks trained to a certified global optimum.

The public API lives here; every other module is private unless documented
(``convexnet.patterns`` and ``convexnet.deep_linear`` are public modules).
"""

from convexnet import patterns
from convexnet.baselines import train_two_layer_nonconvex
from convexnet.certificates import Certificate
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
    "LogisticLoss",
    "SquaredLoss",
    "TwoLayerFit",
    "TwoLayerNetwork",
    "enumerate_patterns",
    "get_loss",
    "patterns",
    "sample_patterns",
    "train_two_layer",
    "train_two_layer_nonconvex",
    "__version__",
]
