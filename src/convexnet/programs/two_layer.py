"""The convex programs of two-layer ReLU networks over a set of activation patterns.

Notation (SPEC.md §1): data ``X`` (n x d), targets ``Y`` (n x c), activation patterns
``D_i = diag(1[X g_i >= 0])`` for ``i = 1..P``, strength ``alpha`` (``beta`` in the papers).

Exact ReLU ([PE20] eq. (8); SPEC.md §1.3), one independent program per output column ``k``
(decoupled outputs, SPEC.md §1.7)::

    min  loss( sum_i D_i X (V_ik - W_ik), Y ) + alpha * sum_{i,k} (||V_ik|| + ||W_ik||)
    s.t. (2 D_i - I) X V_ik >= 0,  (2 D_i - I) X W_ik >= 0

Gated ReLU ([MSP22]; SPEC.md §1.4), the same without cones and with one variable per pattern::

    min  loss( sum_i D_i X U_ik, Y ) + alpha * sum_{i,k} ||U_ik||

Minimum-norm interpolation (``alpha -> 0``; SPEC.md §1.3): the penalty is minimised subject to
``sum_i D_i X (V_ik - W_ik) = Y``.

Variables are stored as arrays of shape ``(P, d, c)``: ``V``, ``W`` for the exact program, ``U``
for the gated one. A program only knows its variables, objective and constraints; solvers live in
:mod:`convexnet.solvers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from convexnet.losses import Loss

__all__ = ["TwoLayerProgram", "TwoLayerSolution"]


@dataclass
class TwoLayerSolution:
    """A (possibly approximate) solution of a :class:`TwoLayerProgram`.

    ``V``/``W`` hold the positive/negative-output variables of the exact program (``W`` is
    ``None`` for the gated program, whose variables are ``V``). ``status`` is ``"optimal"``,
    ``"inaccurate"`` (stopped before its tolerance) or a solver's failure status.
    """

    V: np.ndarray
    W: np.ndarray | None
    status: str
    objective: float
    solve_time: float
    solver: str
    iterations: int | None = None
    equality_dual: np.ndarray | None = None
    info: dict = field(default_factory=dict)


@dataclass
class TwoLayerProgram:
    """One convex program of a two-layer ReLU network over fixed activation patterns.

    Parameters
    ----------
    X : (n, d) array
        Inputs (already holding the ones column if the network has a bias).
    Y : (n, c) array
        Targets in the form the loss expects (``+-1`` for logistic, one-hot for cross-entropy).
    D : (n, P) boolean array
        Activation patterns, one per column.
    generators : (d, P) array
        A vector ``g`` per pattern with ``1[X g >= 0] = D[:, i]`` (the gates of gated networks).
    loss : Loss
    alpha : float
        Regularisation strength; ignored by the interpolation form.
    gated : bool
        Drop the cone constraints (gated ReLU network with fixed gates).
    interpolate : bool
        Minimum-norm form: minimise the penalty subject to ``f(X) = Y``.
    """

    X: np.ndarray
    Y: np.ndarray
    D: np.ndarray
    generators: np.ndarray
    loss: Loss
    alpha: float
    gated: bool = False
    interpolate: bool = False

    def __post_init__(self):
        self.D = np.asarray(self.D, dtype=bool)
        keep = self.D.any(axis=0)  # the all-zero pattern contributes nothing
        self.D = self.D[:, keep]
        self.generators = np.asarray(self.generators, dtype=float)[:, keep]
        if self.Y.ndim == 1:
            self.Y = self.Y[:, None]

    # ----------------------------------------------------------------- sizes
    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.Y.shape[1]

    @property
    def n_patterns(self) -> int:
        return self.D.shape[1]

    @property
    def n_variables(self) -> int:
        blocks = 1 if self.gated else 2
        return blocks * self.n_patterns * self.n_features * self.n_outputs

    @property
    def n_cone_rows(self) -> int:
        return 0 if self.gated else 2 * self.n_patterns * self.n_samples * self.n_outputs

    def describe(self) -> str:
        kind = "gated ReLU group lasso" if self.gated else "exact ReLU group lasso with cones"
        form = "minimum-norm interpolation" if self.interpolate else f"alpha={self.alpha:g}"
        return (
            f"{kind} ({form}, loss={self.loss.name}): n={self.n_samples}, d={self.n_features}, "
            f"outputs={self.n_outputs}, patterns={self.n_patterns}, "
            f"variables={self.n_variables}, cone rows={self.n_cone_rows}"
        )

    # ----------------------------------------------------------- evaluation
    def zeros(self) -> np.ndarray:
        return np.zeros((self.n_patterns, self.n_features, self.n_outputs))

    def _masked_sum(self, V: np.ndarray) -> np.ndarray:
        """``sum_i D_i X V_i`` for ``V`` of shape (P, d, c); returns (n, c)."""
        XV = np.einsum("nd,pdc->npc", self.X, V)
        return np.einsum("np,npc->nc", self.D.astype(float), XV)

    def predict(self, V: np.ndarray, W: np.ndarray | None = None) -> np.ndarray:
        """Model output of the convex variables, shape (n, c)."""
        out = self._masked_sum(V)
        if W is not None:
            out = out - self._masked_sum(W)
        return out

    def penalty(self, V: np.ndarray, W: np.ndarray | None = None) -> float:
        """``sum_{i,k} ||V_ik|| (+ ||W_ik||)`` (without the factor alpha)."""
        total = float(np.linalg.norm(V, axis=1).sum())
        if W is not None:
            total += float(np.linalg.norm(W, axis=1).sum())
        return total

    def objective(self, V: np.ndarray, W: np.ndarray | None = None) -> float:
        """The program's objective (the penalty alone for the interpolation form)."""
        if self.interpolate:
            return self.penalty(V, W)
        return self.loss.value(self.predict(V, W), self.Y) + self.alpha * self.penalty(V, W)

    def cone_violation(self, V: np.ndarray, W: np.ndarray | None = None) -> float:
        """Largest violation of ``(2 D_i - I) X V_ik >= 0`` (0 for gated programs)."""
        if self.gated:
            return 0.0
        S = 2.0 * self.D - 1.0
        worst = 0.0
        for Z in (V, W):
            if Z is None:
                continue
            XZ = np.einsum("nd,pdc->npc", self.X, Z)
            worst = max(worst, float(np.max(-(S[:, :, None] * XZ), initial=0.0)))
        return worst

    def residual(self, V: np.ndarray, W: np.ndarray | None = None) -> float:
        """``||f(X) - Y||_inf`` (the interpolation constraint's violation)."""
        return float(np.max(np.abs(self.predict(V, W) - self.Y)))

    def memory_estimate(self) -> int:
        """Bytes a conic (CVXPY) solve of this program needs, roughly.

        Dominated by the constraint matrix: ``n P c`` cone rows of ``d`` non-zeros, each stored
        by CVXPY and copied by the solver (about 100 bytes per non-zero in practice), plus the
        dense products ``X V`` of size ``n P c``.
        """
        nnz = (self.n_cone_rows + self.n_samples * self.n_outputs) * self.n_features
        nnz += self.n_samples * self.n_patterns * self.n_outputs * self.n_features
        return int(100 * nnz + 8 * self.n_variables)
