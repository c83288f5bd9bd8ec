"""FISTA with backtracking and adaptive restart, for ``min_x h(A x) + g(x)``.

A solver that knows nothing about neural networks: the smooth part is given through its linear
image ``A x`` (so the extrapolated point's image is a linear combination of images already
computed, and an iteration costs one product with ``A`` and one with ``A^T``) and the
non-smooth part through its proximal operator. Array code follows the Array API, so one
implementation runs on NumPy arrays and PyTorch tensors (CPU or CUDA).

References: Beck and Teboulle, *A fast iterative shrinkage-thresholding algorithm*, SIAM J.
Imaging Sci. 2009 (FISTA with backtracking); O'Donoghue and Candes, *Adaptive restart for
accelerated gradient schemes*, 2015 (the gradient restart test used here).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from convexnet._backend import array_namespace

__all__ = ["SmoothPart", "GroupL2Penalty", "FistaResult", "fista", "group_soft_threshold"]


class SmoothPart(Protocol):
    """``f(x) = h(A x)`` through its image: ``image(x) = A x``, ``value(Ax)``, ``gradient(Ax)``."""

    def image(self, x): ...

    def value(self, image) -> float: ...

    def gradient(self, image): ...


def group_soft_threshold(Z, threshold: float):
    """The prox of ``threshold * sum_j ||Z[:, j]||_2`` (groups are the columns along axis 0)."""
    xp = array_namespace(Z)
    norms = xp.linalg.vector_norm(Z, axis=0)
    safe = xp.where(norms > 0, norms, xp.ones_like(norms))
    return Z * xp.maximum(1.0 - threshold / safe, 0.0)


@dataclass
class GroupL2Penalty:
    """``alpha * sum_j ||Z[:, j]||_2``, a group lasso whose groups run along axis 0."""

    alpha: float

    def value(self, Z) -> float:
        xp = array_namespace(Z)
        return self.alpha * float(xp.sum(xp.linalg.vector_norm(Z, axis=0)))

    def prox(self, Z, step: float):
        return group_soft_threshold(Z, self.alpha * step)


@dataclass
class FistaResult:
    """The last iterate ``x`` with its image ``A x``; ``converged`` says whether ``stop`` fired."""

    x: object
    image: object
    n_iter: int
    converged: bool
    lipschitz: float
    history: list = field(default_factory=list)


def fista(
    smooth: SmoothPart,
    penalty,
    x0,
    *,
    lipschitz: float,
    max_iter: int,
    stop: Callable[[object, object, int], bool] | None = None,
    check_every: int = 10,
    image0=None,
    step_growth: float = 0.9,
) -> FistaResult:
    """Minimise ``smooth(x) + penalty(x)`` by accelerated proximal gradient.

    Each iteration takes the step ``1/L``: ``L`` starts at ``lipschitz`` (an estimate, not
    necessarily an upper bound), doubles until the sufficient-decrease test of Beck and Teboulle
    holds, and is multiplied by ``step_growth`` after each accepted step, so the step adapts to
    the local curvature. Momentum restarts whenever it points against the last step (gradient
    restart). Every ``check_every`` iterations ``stop(x, image, k)`` is asked whether to stop.
    """
    xp = array_namespace(x0)
    # Rounding in the sufficient-decrease test: a few ulps of the objective, or float32
    # iterates fail it on rounding alone and the step collapses.
    slack = 10.0 * float(xp.finfo(x0.dtype).eps)
    x = x0
    img_x = smooth.image(x) if image0 is None else image0
    y, img_y = x, img_x
    t, L = 1.0, float(lipschitz)
    converged, k = False, 0
    for k in range(1, max_iter + 1):
        fy = smooth.value(img_y)
        g = smooth.gradient(img_y)
        while True:
            x_new = penalty.prox(y - g / L, 1.0 / L)
            img_new = smooth.image(x_new)
            f_new = smooth.value(img_new)
            diff = x_new - y
            model = fy + float(xp.sum(g * diff)) + 0.5 * L * float(xp.sum(diff * diff))
            if f_new <= model + slack * abs(fy) or not math.isfinite(L) or L > 1e300:
                break
            L *= 2.0
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        if float(xp.sum((y - x_new) * (x_new - x))) > 0:  # momentum points uphill: restart
            t, t_new = 1.0, 1.0
        beta = (t - 1.0) / t_new
        y = x_new + beta * (x_new - x)
        img_y = img_new + beta * (img_new - img_x)
        x, img_x, t = x_new, img_new, t_new
        L *= step_growth
        if stop is not None and k % check_every == 0 and stop(x, img_x, k):
            converged = True
            break
    return FistaResult(x=x, image=img_x, n_iter=k, converged=converged, lipschitz=L)
