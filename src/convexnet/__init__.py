"""convexnet: neural networks trained to a certified global optimum.

The public API lives here; every other module is private unless documented.
"""

from convexnet.losses import CrossEntropyLoss, LogisticLoss, SquaredLoss, get_loss

__version__ = "0.1.0"

__all__ = [
    "CrossEntropyLoss",
    "LogisticLoss",
    "SquaredLoss",
    "get_loss",
    "__version__",
]
