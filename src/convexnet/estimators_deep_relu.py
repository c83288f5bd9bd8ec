"""scikit-learn estimator for parallel deep ReLU networks ([002] (22); SPEC.md §4.4)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from convexnet._validation import check_bool, check_positive, check_positive_int
from convexnet.programs.deep_relu import parallel_deep_relu, parallel_network_output

__all__ = ["ConvexDeepReLURegressor"]


class ConvexDeepReLURegressor(RegressorMixin, BaseEstimator):
    """Parallel deep ReLU regression network of any depth, trained by column generation.

    Objective (sums, SPEC §0.4), with ``x`` augmented by a constant 1 when ``fit_intercept``
    (a first-layer bias, regularised like the weights)::

        min (1/2) sum_i (f(x_i) - y_i)^2 + alpha * (1/L) sum_j sum_{l=1}^L ||W_{l,j}||_F^L
        f(x) = sum_j ( ... ((x W_{1,j})_+ W_{2,j})_+ ... w_{L-1,j})_+ w_{L,j}

    ([002] (22)-(23), constant ``1/L``). Solved by :func:`convexnet.programs.deep_relu.
    parallel_deep_relu`: the duality gap it reports is proven for ``depth=2`` and *heuristic*
    (as good as the multi-start oracle) for ``depth >= 3``.

    Parameters
    ----------
    depth : int, default 3
        Number of weight layers ``L >= 2`` per branch.
    alpha : float, default 1.0
        Regularisation strength (sum-of-losses convention).
    branch_widths : int or sequence, default 2
        Hidden widths ``m_1..m_{L-2}`` of a branch (``w_{L-1}`` is a vector).
    fit_intercept : bool, default True
    max_iter : int, default 10
        Column-generation rounds.
    n_starts, oracle_steps : int, default 16, 60
        Size of the oracle's multi-start local search (``depth >= 3``).
    tol : float, default 1e-4
        Stop when no branch violates the dual constraint by more than ``tol`` (relative).
    random_state : int or None, default 0

    Attributes
    ----------
    branches_ : list of lists of arrays, the layers of each branch (balanced).
    objective_, dual_bound_, duality_gap_ : the primal objective, the dual bound and their gap.
    bound_label_ : ``"exact"`` or ``"heuristic"``; status_ : ``"converged"`` or ``"max_iter"``.
    n_branches_, n_iter_, result_ : branch count, rounds, the full result object.
    """

    def __init__(
        self,
        depth=3,
        alpha=1.0,
        *,
        branch_widths=2,
        fit_intercept=True,
        max_iter=10,
        n_starts=16,
        oracle_steps=60,
        tol=1e-4,
        random_state=0,
    ):
        self.depth = depth
        self.alpha = alpha
        self.branch_widths = branch_widths
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.n_starts = n_starts
        self.oracle_steps = oracle_steps
        self.tol = tol
        self.random_state = random_state

    def _augment(self, X):
        return np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X

    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and a scalar target ``y`` (n_samples,)."""
        check_positive_int(self.depth, "depth", minimum=2)
        check_positive(self.alpha, "alpha")
        check_bool(self.fit_intercept, "fit_intercept")
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        res = parallel_deep_relu(
            self._augment(X),
            y,
            depth=self.depth,
            branch_widths=self.branch_widths,
            alpha=self.alpha,
            max_iter=self.max_iter,
            n_starts=self.n_starts,
            oracle_steps=self.oracle_steps,
            tol=self.tol,
            random_state=self.random_state,
        )
        self.result_ = res
        self.branches_ = res.branches
        self.objective_ = res.primal_value
        self.dual_bound_ = res.dual_bound
        self.duality_gap_ = res.gap
        self.bound_label_ = res.bound_label
        self.status_ = res.status
        self.n_branches_ = res.n_branches
        self.n_iter_ = res.n_iter
        return self

    def predict(self, X):
        """Network output, shape (n_samples,)."""
        check_is_fitted(self, "branches_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        if not self.branches_:
            return np.zeros(X.shape[0])
        return parallel_network_output(self._augment(X), self.branches_)[:, 0]

    def to_torch(self):
        """A float64 ``torch.nn.Module`` whose output (n, 1) equals ``predict``."""
        import torch
        from torch import nn

        check_is_fitted(self, "branches_")
        branches = [[torch.as_tensor(W, dtype=torch.float64) for W in b] for b in self.branches_]
        fit_intercept = bool(self.fit_intercept)

        class ParallelDeepReLU(nn.Module):
            """Sum of deep ReLU branches exported from convexnet (float64)."""

            def __init__(self):
                super().__init__()
                self.layers = nn.ParameterList(
                    [nn.Parameter(W.clone()) for b in branches for W in b]
                )
                self.depths = [len(b) for b in branches]

            def forward(self, x):
                x = x.to(torch.float64)
                if fit_intercept:
                    x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)
                out = torch.zeros(x.shape[0], 1, dtype=x.dtype)
                k = 0
                for L in self.depths:
                    h = x
                    for l in range(L):
                        h = h @ self.layers[k + l]
                        if l < L - 1:
                            h = torch.relu(h)
                    out = out + h
                    k += L
                return out

        return ParallelDeepReLU()
