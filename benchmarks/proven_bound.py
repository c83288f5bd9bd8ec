"""Tightness and time of the proven kappa bound (docs/certificates.md).

Planted-teacher regression: X ~ N(0, I), y = small ReLU teacher + noise; a two-layer network is
fitted non-convexly (L-BFGS) at alpha = 10% of alpha_max (alpha_max ~ kappa(y), estimated by
ascent), and lam = y - f(X) is its residual (the dual point of the certificate). The true kappa
is unknown at these sizes; ``lower`` is the best value of multi-start projected ascent on the
sphere, so ``bound / lower`` is an upper bound on the looseness.

    PYTHONPATH=src OPENBLAS_NUM_THREADS=1 python benchmarks/proven_bound.py 1000 20
"""

import sys
import time

import numpy as np

from convexnet.baselines import train_two_layer_nonconvex
from convexnet.certificates import coarse_kappa
from convexnet.losses import SquaredLoss
from convexnet.relaxation import kappa_lower_bound, kappa_upper_bound


def main(n: int, d: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 3)) / np.sqrt(d)
    y = np.maximum(X @ W, 0) @ np.array([1.0, -1.0, 0.5]) + 0.1 * rng.standard_normal(n)
    alpha = 0.1 * kappa_lower_bound(X, y, n_starts=5)
    fit = train_two_layer_nonconvex(X, y, width=10, alpha=alpha, n_starts=1, max_iter=500)
    J = fit.best_objective
    print(f"n={n} d={d} alpha={alpha:.4g} J(fitted network)={J:.6g}")
    for name, lam in (("residual", y - fit.best.predict(X).ravel()), ("y", y)):
        t = time.perf_counter()
        kb = kappa_upper_bound(X, lam)
        el = time.perf_counter() - t
        low = max(kappa_lower_bound(X, lam, n_starts=10), float(kb.lower[0]))
        info = kb.details["per_column"][0]
        print(
            f"  lam={name:8s} bound={kb.value[0]:.5g} lower={low:.5g} "
            f"ratio={kb.value[0] / low:.3f} split/lower={info['split'] / low:.3f} "
            f"coarse/lower={coarse_kappa(X, lam)[0] / low:.3f} method={kb.method} time={el:.2f}s"
        )
        if name == "residual":
            # Proven relative gap of the fitted network, and the same with kappa = lower (a lower
            # bound on the gap an exact kappa oracle would certify; not itself a valid bound).
            loss = SquaredLoss()
            for what, k in (("proven", kb.value[0]), ("kappa=lower", low), ("coarse", None)):
                k = coarse_kappa(X, lam)[0] if k is None else k
                dual = loss.dual_value(lam * min(1.0, alpha / k), y)
                print(f"    relative gap with {what:12s} {(J - dual) / J:.4f}")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
