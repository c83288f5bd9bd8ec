"""Augmented Lagrangian method for ``min_x h(A x) + g(x)  s.t.  c(x) >= 0`` with ``c`` linear.

Solver-side only: the problem supplies ``smooth_for(mu, rho)``, the smooth part of the augmented
Lagrangian::

    h(A x) + (1 / (2 rho)) * ||(mu - rho c(x))_+||^2

(Rockafellar's form for inequality constraints), and ``constraint(image)``, the values ``c(x)``
read off the image ``A x``. Each outer step minimises it by :func:`fista` from the last iterate
(warm start) and updates ``mu <- (mu - rho c(x))_+``; ``rho`` grows tenfold whenever the
violation ``||(-c(x))_+||_inf`` did not shrink by a factor four.

Reference: Bertsekas, *Constrained Optimization and Lagrange Multiplier Methods*, 1982, ch. 3;
Nocedal and Wright, *Numerical Optimization*, 2nd ed., §17.4.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from convexnet._backend import array_namespace
from convexnet.solvers.fista import fista

__all__ = ["AugLagResult", "augmented_lagrangian", "multiplier_update"]


@dataclass
class AugLagResult:
    x: object
    image: object
    mu: object
    rho: float
    n_iter: int
    n_outer: int
    converged: bool
    violation: float


def multiplier_update(mu, constraint_values, rho: float):
    """``(mu - rho c)_+``: the next multiplier (and the one the current iterate implies)."""
    xp = array_namespace(mu)
    return xp.maximum(mu - rho * constraint_values, 0.0)


def augmented_lagrangian(
    smooth_for: Callable[[object, float], object],
    constraint: Callable[[object], object],
    penalty,
    x0,
    mu0,
    *,
    rho: float,
    lipschitz_for: Callable[[float], float],
    max_iter: int,
    done: Callable[[object, object, object, float, int], bool],
    inner_done: Callable[[object, object, object, float, int], bool],
    check_every: int = 10,
    growth: float = 2.0,
    shrink: float = 0.5,
    violation_tol: float = 0.0,
    max_rho: float = 1e12,
) -> AugLagResult:
    """Minimise by the augmented Lagrangian method; at most ``max_iter`` FISTA iterations in all.

    ``done(x, image, mu_plus, rho, k)`` ends the whole solve (the caller's certified stopping
    test, given the multiplier ``mu_plus`` the iterate implies); ``inner_done`` ends one outer
    step (its subproblem solved well enough). Both are asked every ``check_every`` iterations.
    """
    xp = array_namespace(x0)
    x, mu, image = x0, mu0, None
    total, outer, converged = 0, 0, False
    previous = float("inf")
    L = lipschitz_for(rho)
    violation = float("inf")
    while total < max_iter:
        outer += 1
        smooth = smooth_for(mu, rho)
        state = {"finished": False}

        def stop(xk, imk, k, _mu=mu, _rho=rho, _state=state, _total=total):
            mu_plus = multiplier_update(_mu, constraint(imk), _rho)
            if done(xk, imk, mu_plus, _rho, _total + k):
                _state["finished"] = True
                return True
            return inner_done(xk, imk, mu_plus, _rho, _total + k)

        result = fista(
            smooth,
            penalty,
            x,
            lipschitz=L,
            max_iter=max_iter - total,
            stop=stop,
            check_every=check_every,
            image0=image,
        )
        total += result.n_iter
        x, image, L = result.x, result.image, result.lipschitz
        values = constraint(image)
        violation = float(xp.max(xp.maximum(-values, 0.0)))
        mu = multiplier_update(mu, values, rho)
        if state["finished"]:
            converged = True
            break
        scale = max(float(xp.max(xp.abs(values))), 1e-300)
        if violation > shrink * previous and violation > violation_tol * scale and rho < max_rho:
            L = L - lipschitz_for(rho) + lipschitz_for(rho * growth)
            rho *= growth
        previous = violation
    if image is None:  # no iteration ran (max_iter=0): report the starting point
        image = smooth_for(mu, rho).image(x)
        violation = float(xp.max(xp.maximum(-constraint(image), 0.0)))
    return AugLagResult(
        x=x,
        image=image,
        mu=mu,
        rho=rho,
        n_iter=total,
        n_outer=outer,
        converged=converged,
        violation=violation,
    )
