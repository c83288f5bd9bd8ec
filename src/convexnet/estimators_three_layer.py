"""scikit-learn estimators for three-layer parallel ReLU networks trained as one convex program.

[001] T. Ergen, M. Pilanci, *Global Optimality Beyond Two Layers: Training Deep ReLU Networks via
Convex Programs*, ICML 2021; SPEC.md §3.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from convexnet import patterns as _patterns
from convexnet._validation import check_bool, check_nonnegative, check_positive, check_positive_int
from convexnet.estimators import _ClassificationTargets, _RegressionTargets
from convexnet.growth_three_layer import block_growth_scope_note, grow_blocks
from convexnet.networks import three_layer_module
from convexnet.solvers.conic import resolve_solver
from convexnet.three_layer import train_three_layer

__all__ = ["ConvexThreeLayerRegressor", "ConvexThreeLayerClassifier", "choose_first_layer"]

#: ``activation_patterns="auto"`` enumerates when the Cover bound is at most this many patterns.
AUTO_ENUMERATION_LIMIT = 16
#: ``activation_patterns="sample"`` (and ``"auto"`` beyond the limit) draws this many gates.
DEFAULT_N_SAMPLES = 16
#: ``activation_patterns="grow"``: the pool's first-layer patterns beyond enumeration, and its
#: mixed blocks at most (``GROW_POOL_FACTOR * max_blocks``).
GROW_N_SAMPLES = 32
GROW_POOL_FACTOR = 10


def choose_first_layer(X: np.ndarray, activation_patterns, random_state, *, grow=False):
    """First-layer patterns from the ``activation_patterns`` parameter of the estimators.

    ``"enumerate"``: every pattern (exact); an int ``k``: ``k`` Gaussian draws, de-duplicated;
    ``"sample"``: 16 draws; ``"auto"``: enumerate when the Cover bound is at most 16 patterns
    (and the rank is at most 3), else sample 16 (32 with ``grow``: the pool of
    ``activation_patterns="grow"``).
    """
    if isinstance(activation_patterns, bool):
        raise TypeError(
            "activation_patterns must be 'auto', 'grow', 'enumerate', 'sample' or an int."
        )
    if isinstance(activation_patterns, int | np.integer):
        if activation_patterns < 1:
            raise ValueError(
                "activation_patterns must be a positive number of samples, "
                f"got {activation_patterns}."
            )
        return _patterns.sample_patterns(X, int(activation_patterns), random_state=random_state)
    if activation_patterns not in ("auto", "enumerate", "sample"):
        raise ValueError(
            "activation_patterns must be 'auto', 'grow', 'enumerate', 'sample' or a positive int, "
            f"got {activation_patterns!r}."
        )
    if activation_patterns == "auto":
        rank = int(np.linalg.matrix_rank(X)) if X.size else 0
        if rank > 3 or _patterns.count_bound(X.shape[0], rank).cover > AUTO_ENUMERATION_LIMIT:
            activation_patterns = "sample"
    if activation_patterns == "sample":
        k = GROW_N_SAMPLES if grow else DEFAULT_N_SAMPLES
        return _patterns.sample_patterns(X, k, random_state=random_state)
    return _patterns.enumerate_patterns(X)


_OBJECTIVE_DOC = """
    The network and the objective every reported number refers to ([001]; SPEC.md §3.1-3.2,
    regulariser R1)::

        f(x) = sum_k ( sum_j (x^T W1_k[:, j] + b1_k[j])_+ w2_k[j] )_+ w3_k
        J    = sum_i loss(f(x_i), y_i) + (alpha / 2) * sum_k (||w2_k||^2 + ||w3_k||^2)
        s.t.   ||W1_k||_F^2 + ||b1_k||^2 <= 1   for every sub-network k

    Each sub-network ``k`` has ``width`` (``m1``) first-layer neurons, one second-layer neuron
    (no bias) and an output weight ``w3_k``. The same optimum is reached with the regulariser R3,
    ``(alpha / 3) sum_k (a_k^3 + b_k^3 + c_k^3)`` (``a, b, c`` the three layers' norms); plain
    weight decay on all layers is a different objective that has no exact convex form. Sums over
    samples, not means. With ``fit_intercept=True`` the bias ``b1`` is a constant input feature and
    counts in the first layer's norm. Several outputs: each sub-network feeds one output
    (decoupled).

    ``fit`` solves the lifted convex program (SPEC.md §3.3): a group lasso over *blocks*, each a
    set of at most ``width`` signed first-layer activation patterns with a second-layer pattern,
    with cone and coupling constraints; it recovers one sub-network per non-zero block, prunes
    them to at most ``n + 1`` per output (Caratheodory), and certifies the result with a checked
    dual-feasible point. The optimum is never above the two-layer optimum over the same
    first-layer patterns.
"""

_PARAMS_DOC = """
    Parameters
    ----------
    alpha : float, default=1.0
        Regularisation strength (non-negative), in the sum-of-losses scaling above.
    width : int, default=2
        ``m1``, first-layer neurons per sub-network. The program grows like ``P1^width``.
    activation_patterns : {"auto", "grow", "enumerate", "sample"} or int, default="auto"
        First-layer patterns. ``"enumerate"``: all of them; ``"sample"`` or an int ``k``: ``k``
        Gaussian draws (16 for ``"sample"``), de-duplicated; ``"auto"``: enumerate when there are
        at most 16, else sample 16 (no growth: unlike the two-layer estimators, ``"auto"`` does
        not grow). ``"grow"``: build a pool of blocks (first-layer patterns as for ``"auto"`` but
        32 samples, ``second_layer_patterns``, at most ``10 * max_blocks`` mixed blocks) and grow
        the program's blocks out of it by column generation (:mod:`convexnet.growth_three_layer`)
        until no pool block violates the dual constraint; ``growth_`` reports it and the
        certificate is computed over the pool.
    second_layer_patterns : {"sample", "enumerate"} or int, default="sample"
        Second-layer patterns of each mixed set of signed first-layer patterns: ``"enumerate"``
        every one (linear programs; tiny problems only), an int ``k`` (8 for ``"sample"``):
        patterns of ``k`` random feasible pre-activations.
    max_blocks : int or None, default=200
        Keep at most this many mixed blocks (chosen at random); ``None`` keeps them all.
    fit_intercept : bool, default=True
        Append a constant feature, so each first-layer neuron has a (regularised) bias.
    solver : str, default="auto"
        ``"auto"`` (Clarabel, then SCS) or the name of any installed CVXPY conic solver.
    tol : float, default=1e-6
        Target relative duality gap of the certificate.
    max_iter : int, default=200
        Iteration limit of the interior-point solver (SCS gets ``100 * max_iter``).
    random_state : int, RandomState or None, default=None
        Seed of pattern sampling and block selection.
    verbose : bool, default=False
        Print the program's size (computed before it is built) and the solver's log.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    coefs_ : list of ndarray
        The three layers of every sub-network: ``[W1 (K, n_features, width), w2 (K, width),
        w3 (K,) or (K, n_outputs)]``, in the R1 form (``||[W1_k; b1_k]||_F = 1``).
    intercepts_ : list of ndarray
        ``[b1 (K, width), zeros (K,), zeros (n_outputs,)]`` (only the first layer has biases).
    objective_ : float
        ``J`` of the returned network on the training data.
    convex_objective_ : float
        The convex program's objective at the solver's solution.
    dual_objective_ : float
        A lower bound on ``J`` from a dual point whose feasibility was checked.
    duality_gap_ : float
        ``objective_ - dual_objective_`` (``relative_duality_gap_`` divides by ``objective_``).
    certificate_ : Certificate
        The full certificate, including its ``scope``: which networks the bound holds against.
    patterns_complete_ : bool
        Whether the block set is complete (first-layer patterns enumerated, every mixed set
        present, second-layer patterns enumerated); the bound then holds for any network of this
        width.
    n_patterns_, n_blocks_, n_subnetworks_ : int
        First-layer patterns, blocks of the program, sub-networks of the returned network.
    status_ : str
        ``"optimal"`` (certified relative gap <= tol) or ``"inaccurate"`` (with a warning).
    solver_, solver_status_, n_iter_ :
        The solver that produced the solution, its own status and its iteration count.
    fit_time_ : float
        Seconds spent in ``fit``.
    growth_ : dict or None
        With ``activation_patterns="grow"``: reason (``"no violating block found"`` or
        ``"max_rounds reached"``), rounds, blocks, pool size and completeness, and one history
        entry per round (objective, gap, blocks added and their dual values). ``None`` otherwise.
"""


class _ConvexThreeLayer(BaseEstimator):
    def __init__(
        self,
        alpha=1.0,
        *,
        width=2,
        activation_patterns="auto",
        second_layer_patterns="sample",
        max_blocks=200,
        fit_intercept=True,
        solver="auto",
        tol=1e-6,
        max_iter=200,
        random_state=None,
        verbose=False,
    ):
        self.alpha = alpha
        self.width = width
        self.activation_patterns = activation_patterns
        self.second_layer_patterns = second_layer_patterns
        self.max_blocks = max_blocks
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def _augment(self, X):
        if self.fit_intercept:
            return np.hstack([X, np.ones((X.shape[0], 1))])
        return X

    def _check_params(self):
        alpha = check_nonnegative(self.alpha, "alpha")
        if alpha == 0:
            raise ValueError("alpha must be positive for training (alpha=0 has no minimiser).")
        check_positive_int(self.width, "width")
        if self.max_blocks is not None:
            check_positive_int(self.max_blocks, "max_blocks", minimum=0)
        slp = self.second_layer_patterns
        if isinstance(slp, bool) or not (
            slp in ("sample", "enumerate") or (isinstance(slp, int | np.integer) and slp >= 1)
        ):
            raise ValueError(
                "second_layer_patterns must be 'sample', 'enumerate' or a positive int, "
                f"got {slp!r}."
            )
        check_positive(self.tol, "tol")
        check_positive_int(self.max_iter, "max_iter")
        resolve_solver(self.solver)
        for name in ("fit_intercept", "verbose"):
            check_bool(getattr(self, name), name)
        return alpha

    def _split_bias(self, W1):
        """``W1`` (K, d(+1), m1) -> rows acting on ``x`` and the bias row (K, m1)."""
        d = self.n_features_in_
        if self.fit_intercept:
            return W1[:, :d, :], W1[:, d, :]
        return W1, np.zeros((W1.shape[0], W1.shape[2]))

    def _fit_arrays(self, X, Y, loss):
        alpha = self._check_params()
        start = time.perf_counter()
        Xa = self._augment(X)
        self.growth_ = None
        grow = isinstance(self.activation_patterns, str) and self.activation_patterns == "grow"
        patterns = choose_first_layer(
            Xa, "auto" if grow else self.activation_patterns, self.random_state, grow=grow
        )
        solve_args = dict(
            solver=self.solver, tol=self.tol, max_iter=self.max_iter, verbose=self.verbose
        )
        if grow:
            growth = grow_blocks(
                Xa,
                Y,
                loss,
                alpha,
                width=int(self.width),
                patterns=patterns,
                second_layer_patterns=self.second_layer_patterns,
                max_pool_blocks=None
                if self.max_blocks is None
                else GROW_POOL_FACTOR * self.max_blocks,
                random_state=self.random_state,
                solve=lambda blocks: train_three_layer(
                    Xa, Y, loss, alpha, blocks=blocks, **solve_args
                ),
                verbose=bool(self.verbose),
            )
            fit = growth.fit
            fit.certificate = replace(
                fit.certificate, scope=fit.certificate.scope + block_growth_scope_note(growth)
            )
            self.growth_ = growth.summary()
        else:
            fit = train_three_layer(
                Xa,
                Y,
                loss,
                alpha,
                patterns,
                width=int(self.width),
                second_layer_patterns=self.second_layer_patterns,
                max_blocks=self.max_blocks,
                random_state=self.random_state,
                **solve_args,
            )
        net = fit.network
        W1, b1 = self._split_bias(net.W1)
        w3 = net.w3[:, 0] if net.w3.shape[1] == 1 else net.w3
        self.coefs_ = [W1, net.w2, w3]
        self.intercepts_ = [b1, np.zeros(net.n_subnetworks), np.zeros(net.w3.shape[1])]
        self.network_ = net
        self.objective_ = fit.objective
        self.convex_objective_ = fit.convex_objective
        self.certificate_ = fit.certificate
        self.dual_objective_ = fit.certificate.dual
        self.duality_gap_ = fit.certificate.gap
        self.relative_duality_gap_ = fit.certificate.relative_gap
        self.patterns_complete_ = bool(
            growth.pool.is_complete if grow else fit.program.blocks.is_complete
        )
        self.n_patterns_ = int(fit.program.blocks.D1.shape[1])
        self.n_blocks_ = fit.program.n_blocks
        self.n_subnetworks_ = net.n_subnetworks
        self.status_ = fit.status
        self.solver_status_ = fit.solution.status
        self.solver_ = fit.solution.solver
        self.n_iter_ = int(fit.solution.iterations or 1)
        self.fit_time_ = time.perf_counter() - start
        return self

    def _decision(self, X):
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False)
        return self.network_.predict(self._augment(X))

    def to_torch(self):
        """A ``torch.nn.Module`` (float64) whose output equals ``decision_function``/``predict``.

        For classifiers the module returns logits (one column for binary problems).
        """
        check_is_fitted(self, "network_")
        W1, b1 = self._split_bias(self.network_.W1)
        return three_layer_module(W1, b1, self.network_.w2, self.network_.w3)


class ConvexThreeLayerRegressor(RegressorMixin, _RegressionTargets, _ConvexThreeLayer):
    __doc__ = (
        """Three-layer parallel ReLU regression network trained as one convex program [001].

    ``loss(p, y) = (p - y)^2 / 2``, summed over samples and outputs.
"""
        + _OBJECTIVE_DOC
        + _PARAMS_DOC
        + _ATTRS_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from convexnet.estimators_three_layer import ConvexThreeLayerRegressor
    >>> X, y = make_regression(n_samples=20, n_features=2, noise=1.0, random_state=0)
    >>> model = ConvexThreeLayerRegressor(alpha=1.0, random_state=0).fit(X, y / y.std())
    >>> model.relative_duality_gap_ < 1e-6
    True
"""
    )


class ConvexThreeLayerClassifier(ClassifierMixin, _ClassificationTargets, _ConvexThreeLayer):
    __doc__ = (
        """Three-layer parallel ReLU classification network trained as one convex program [001].

    Two classes: one output with the logistic loss ``log(1 + exp(-y p))``, labels mapped to
    ``y in {-1, +1}`` (``classes_[1]`` is ``+1``). More classes: one output per class with the
    softmax cross-entropy loss.
"""
        + _OBJECTIVE_DOC
        + _PARAMS_DOC
        + _ATTRS_DOC
        + """
    classes_ : ndarray
        The class labels.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from convexnet.estimators_three_layer import ConvexThreeLayerClassifier
    >>> X, y = make_moons(n_samples=30, noise=0.1, random_state=0)
    >>> clf = ConvexThreeLayerClassifier(alpha=0.1, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
"""
    )
