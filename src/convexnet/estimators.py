"""scikit-learn estimators for two-layer ReLU networks trained to a certified global optimum."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from convexnet._backend import resolve_device, resolve_dtype
from convexnet._validation import (
    check_bool,
    check_nonnegative,
    check_positive,
    check_positive_int,
)
from convexnet.certificates import gated_kappa
from convexnet.growth import certificate_kind, grow_patterns, growth_scope_note
from convexnet.losses import CrossEntropyLoss, LogisticLoss, SquaredLoss
from convexnet.networks import two_layer_module
from convexnet.solvers.conic import resolve_solver
from convexnet.solvers.first_order import FIRST_ORDER_METHODS
from convexnet.training import (
    choose_patterns,
    grows_patterns,
    growth_pattern_budget,
    prove_fit_certificate,
    train_two_layer,
)

__all__ = ["ConvexReLURegressor", "ConvexReLUClassifier", "alpha_grid"]


def alpha_grid(X, Y, loss, D, *, n_alphas: int = 8, eps: float = 1e-2) -> np.ndarray:
    """``n_alphas`` values from ``alpha_max`` down to ``eps * alpha_max``, geometrically.

    ``alpha_max = max_i ||X^T D_i lam0||`` with ``lam0 = -grad loss(0)``: at or above it the zero
    network is optimal for the gated program over ``D``, and hence for the exact one (whose dual
    constraint is smaller), by the optimality condition of SPEC.md §1.5.
    """
    lam0 = loss.dual_point(np.zeros_like(Y), Y)
    alpha_max = float(gated_kappa(X, D, lam0).max(initial=0.0))
    if alpha_max <= 0:
        raise ValueError("every pattern gives a zero dual constraint: the data carry no signal.")
    return alpha_max * np.geomspace(1.0, eps, n_alphas)


_OBJECTIVE_DOC = """
    The network and the objective every reported number refers to::

        f(x) = sum_j (x^T w_j + b_j)_+ a_j                 a_j in R (R^c for c outputs)
        J    = sum_i loss(f(x_i), y_i) + (alpha / 2) * sum_j (||w_j||^2 + b_j^2 + ||a_j||^2)

    Sums over samples, not means (a mean-loss ``alpha_mean`` is ``alpha = n * alpha_mean``). With
    ``fit_intercept=True`` the bias ``b_j`` is a constant input feature and is regularised with the
    weights; there is no output bias. Each output has its own neurons over shared activation
    patterns (decoupled outputs): the coupled vector-output problem is a copositive program
    [SEPP21], NP-hard in general, so it is not solved here.

    ``fit`` solves the exact convex reformulation ([PE20] eq. (8), the group lasso over activation
    patterns ``D_i`` with cone constraints ``(2 D_i - I) X v_i >= 0``), maps its solution to the
    network weights ``w = v / sqrt(||v||)``, ``a = +- sqrt(||v||)``, and certifies it with a checked
    dual-feasible point. With ``gated=True`` it trains the gated ReLU network
    ``sum_j 1[x^T g_j >= 0] (x^T w_j) a_j`` with fixed gates ``g_j`` instead (the same program
    without cones).
"""

_PARAMS_DOC = """
    Parameters
    ----------
    alpha : float, default=1.0
        Weight-decay strength (non-negative), in the sum-of-losses scaling above.
    activation_patterns : {"auto", "grow", "enumerate", "sample"} or int, default="auto"
        ``"enumerate"``: every activation pattern of the data (the certificate then holds against
        every network of any width); ``"grow"``: seed patterns (Gaussian gates, hyperplanes
        through data points, the neurons of a short non-convex warm start) and grow them by
        column generation until a pricing search finds no pattern violating the dual
        constraint (:mod:`convexnet.growth`); ``"sample"`` or an int ``k``: ``k`` Gaussian gates
        (100 for ``"sample"``), de-duplicated, no growth (``dual_objective_`` then holds against
        networks using those patterns only); ``"auto"``: enumerate when there are at most 512
        patterns, else grow. ``certificate_kind_`` says which certificate the fit carries.
    gated : bool, default=False
        Train the gated ReLU network (fixed gates) instead of the ReLU network.
    fit_intercept : bool, default=True
        Append a constant feature, so each neuron has a (regularised) bias.
    solver : str, default="auto"
        ``"fista"`` (gated programs) or ``"auglag"`` (exact programs): the matrix-free
        first-order solvers, on NumPy or PyTorch. ``"barrier"`` (exact, squared or logistic
        loss): the dense log-barrier over all patterns, for small pattern sets. ``"CLARABEL"``
        or any installed CVXPY conic solver: the interior-point reference. ``"auto"``: Clarabel
        (then SCS) for small programs, the first-order solver above ``n * n_variables`` of 2e5
        (gated), 1e5 (exact, squared or logistic loss) or 1e7 (exact, cross-entropy); the
        barrier first on the small working sets of pattern growth.
    tol : float, default=1e-6
        Target relative duality gap of the certificate; first-order solvers stop on it.
    max_iter : int or None, default=None
        Iteration limit: interior-point iterations (default 200; SCS, the fallback of
        ``"auto"``, gets ``100 * max_iter``) or first-order steps (default 10000).
    device : str or None, default=None
        First-order solvers only: ``None`` runs on NumPy, ``"cpu"`` or ``"cuda"`` on PyTorch.
    dtype : {"float64", "float32"}, default="float64"
        First-order solvers only: the precision of the solve (certificates are always computed
        in float64 on the CPU).
    random_state : int, RandomState or None, default=None
        Seed of pattern sampling.
    verbose : bool, default=False
        Print the program's size and the solver's log.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    coefs_ : list of ndarray
        ``[W1 (n_features, n_neurons), W2 (n_neurons,) or (n_neurons, n_outputs)]``.
    intercepts_ : list of ndarray
        ``[b1 (n_neurons,), zeros (n_outputs,)]`` (no output bias).
    gates_ : ndarray or None
        Gated networks only: the gate vectors ``g_j`` acting on ``[x, 1]`` (on ``x`` when
        ``fit_intercept=False``), shape (n_features + fit_intercept, n_neurons).
    objective_ : float
        ``J`` of the returned network on the training data.
    dual_objective_ : float
        A lower bound on ``J`` from a dual point whose feasibility was checked.
    duality_gap_ : float
        ``objective_ - dual_objective_`` (``relative_duality_gap_`` divides by ``objective_``).
    certificate_ : Certificate
        The full certificate, including its ``scope``: which networks the bound holds against.
        With several outputs the network is decoupled and ``dual_objective_`` bounds decoupled
        networks; ``certificate_.coupled_dual`` bounds networks with ``a_j in R^c`` too.
    proven_dual_objective_, proven_duality_gap_, proven_relative_duality_gap_ : float
        The same dual point rescaled by a *proven* pattern-free bound on the dual constraint
        (:func:`convexnet.relaxation.kappa_upper_bound`): a lower bound on ``J`` over networks
        of any width and any activation patterns (any gates when gated), and its gaps. Equal to
        ``dual_objective_`` and its gaps when the patterns are complete; with sampled patterns
        ``dual_objective_`` only holds over the patterns used.
    patterns_complete_ : bool
        Whether every activation pattern was used (the bound then holds for any network).
    certificate_kind_ : str
        In words: global (enumerated), grown (and whether the pricing search found no
        violating pattern, which is a search result and not a proof) or sampled.
    growth_ : dict or None
        Grown patterns only: ``reason`` (``"no violating pattern found"``, ``"max_rounds
        reached"``, ``"time limit reached"`` or ``"pattern budget reached (working sets
        repeat)"``), ``converged``, ``rounds``, ``n_patterns``, the
        per-round ``history`` (patterns, objective, gap over the patterns, largest violation
        ``kappa/alpha - 1`` found, patterns added, seconds) and the ``seeds`` counts.
    n_neurons_, n_patterns_ : int
    status_ : str
        ``"optimal"`` (certified relative gap <= tol) or ``"inaccurate"`` (with a warning).
    solver_, solver_status_, n_iter_ :
        The solver that produced the solution, its own status and its iteration count.
    fit_time_ : float
        Seconds spent in ``fit``.
"""


def _check_numeric(A, name: str) -> None:
    """Refuse strings early with a message naming the argument (sklearn's does not)."""
    if isinstance(A, str | bytes):
        raise TypeError(f"{name} must be numeric, got a string.")
    arr = A if hasattr(A, "dtype") else None
    if arr is None and isinstance(A, list | tuple):
        arr = np.asarray(A, dtype=object)
    if arr is not None and arr.dtype.kind in "OUS":
        try:
            np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must contain numbers only: {exc}") from exc


class _ConvexTwoLayer(BaseEstimator):
    def __init__(
        self,
        alpha=1.0,
        *,
        activation_patterns="auto",
        gated=False,
        fit_intercept=True,
        solver="auto",
        tol=1e-6,
        max_iter=None,
        device=None,
        dtype="float64",
        random_state=None,
        verbose=False,
    ):
        self.alpha = alpha
        self.activation_patterns = activation_patterns
        self.gated = gated
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _augment(self, X):
        if self.fit_intercept:
            return np.hstack([X, np.ones((X.shape[0], 1))])
        return X

    def _check_params(self):
        alpha = check_nonnegative(self.alpha, "alpha")
        if alpha == 0:
            raise ValueError("alpha must be positive for training (alpha=0 has no minimiser).")
        check_positive(self.tol, "tol")
        if self.max_iter is not None:
            check_positive_int(self.max_iter, "max_iter")
        if not isinstance(self.solver, str):
            raise TypeError(f"solver must be a string, got {type(self.solver).__name__}.")
        if self.solver.lower() not in ("auto", "barrier") + FIRST_ORDER_METHODS:
            resolve_solver(self.solver)
        resolve_device(self.device)
        resolve_dtype(self.dtype)
        for name in ("gated", "fit_intercept", "verbose"):
            check_bool(getattr(self, name), name)
        return alpha

    def _split_bias(self, M):
        """Rows of ``M`` acting on ``x`` and the row acting on the constant feature (or 0)."""
        d = self.n_features_in_
        return M[:d], (M[d] if self.fit_intercept else np.zeros(M.shape[1]))

    def _fit_arrays(self, X, Y, loss, patterns=None, warm_start=None):
        alpha = self._check_params()
        start = time.perf_counter()
        Xa = self._augment(X)

        def solve(pats, warm, prove=True, tol=None):
            return train_two_layer(
                Xa,
                Y,
                loss,
                alpha,
                pats,
                gated=bool(self.gated),
                solver=self.solver,
                tol=self.tol if tol is None else tol,
                max_iter=self.max_iter,
                verbose=self.verbose,
                device=resolve_device(self.device),
                dtype=resolve_dtype(self.dtype),
                warm_start=warm,
                prove=prove,
            )

        self.growth_ = None
        if patterns is None and grows_patterns(Xa, self.activation_patterns):
            growth = grow_patterns(
                Xa,
                Y,
                loss,
                alpha,
                lambda pats, warm, tol: solve(pats, warm, prove=False, tol=tol),
                gated=bool(self.gated),
                tol=self.tol,
                max_patterns=growth_pattern_budget(
                    self.solver, *Xa.shape, loss.name, gated=bool(self.gated)
                ),
                random_state=self.random_state,
                verbose=bool(self.verbose),
            )
            fit, patterns = growth.fit, growth.patterns
            fit.certificate = replace(
                prove_fit_certificate(fit.program, fit.certificate, False),
                scope=fit.certificate.scope + growth_scope_note(growth),
            )
            self.growth_ = growth.summary()
        else:
            if patterns is None:
                patterns = choose_patterns(Xa, self.activation_patterns, self.random_state)
            fit = solve(patterns, warm_start)
        self.certificate_kind_ = certificate_kind(patterns, self.growth_)
        self.patterns_ = patterns
        self._solution = fit.solution
        net = fit.network
        W1, b1 = self._split_bias(net.W1)
        W2 = net.W2[:, 0] if net.W2.shape[1] == 1 else net.W2
        self.coefs_ = [W1, W2]
        self.intercepts_ = [b1, np.zeros(net.W2.shape[1])]
        self.gates_ = net.gates
        self.network_ = net
        self.objective_ = fit.objective
        self.certificate_ = fit.certificate
        self.dual_objective_ = fit.certificate.dual
        self.duality_gap_ = fit.certificate.gap
        self.relative_duality_gap_ = fit.certificate.relative_gap
        self.proven_dual_objective_ = fit.certificate.proven_dual
        self.proven_duality_gap_ = fit.certificate.proven_gap
        self.proven_relative_duality_gap_ = fit.certificate.proven_relative_gap
        self.patterns_complete_ = bool(fit.patterns.is_complete)
        self.n_patterns_ = fit.program.n_patterns
        self.n_neurons_ = net.n_neurons
        self.status_ = fit.status
        self.solver_status_ = fit.solution.status
        self.solver_ = fit.solution.solver
        self.n_iter_ = int(fit.solution.iterations or 1)
        self.fit_time_ = time.perf_counter() - start
        return self

    def path(self, X, y, alphas=None, *, n_alphas: int = 8, eps: float = 1e-2) -> list:
        """Fit along a decreasing grid of ``alpha``, each solve warm-started from the last.

        All fits share one set of activation patterns (chosen on ``X``), so the first-order
        solvers restart from the previous solution; the interior-point solvers solve afresh.
        When the patterns are grown (``activation_patterns="grow"``, or ``"auto"`` beyond
        enumeration) each ``alpha`` grows its own set and solves cold; the default grid then
        comes from ``DEFAULT_N_SAMPLES`` Gaussian patterns.
        ``alphas=None`` takes ``n_alphas`` values geometrically from ``alpha_max`` (the smallest
        ``alpha`` whose solution is zero, bounded by ``max_i ||X^T D_i lam0||`` with
        ``lam0 = -grad loss(0)``) down to ``eps * alpha_max``. Returns fitted copies of this
        estimator, one per ``alpha``, in decreasing order of ``alpha``; ``self`` is not changed.
        """
        probe = clone(self)
        X, Y, loss = probe._prepare(X, y)
        Xa = probe._augment(X)
        patterns = choose_patterns(Xa, self.activation_patterns, self.random_state)
        grow = grows_patterns(Xa, self.activation_patterns)
        if alphas is None:
            check_positive_int(n_alphas, "n_alphas")
            check_positive(eps, "eps")
            alphas = alpha_grid(Xa, Y, loss, patterns.D, n_alphas=n_alphas, eps=eps)
        alphas = np.sort(np.asarray(alphas, dtype=float).ravel())[::-1]
        if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
            raise ValueError("alphas must be a non-empty sequence of positive finite numbers.")
        fits, warm = [], None
        for a in alphas:
            est = clone(self).set_params(alpha=float(a))
            est._copy_encoding(probe)
            if grow:  # each alpha grows its own patterns; no shared set to warm-start on
                est._fit_arrays(X, Y, loss)
            else:
                est._fit_arrays(X, Y, loss, patterns=patterns, warm_start=warm)
            warm = est._solution
            fits.append(est)
        return fits

    def _copy_encoding(self, other) -> None:
        for name in ("_y_1d", "_encoder", "classes_", "n_features_in_", "feature_names_in_"):
            if hasattr(other, name):
                setattr(self, name, getattr(other, name))

    def _decision(self, X):
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False)
        return self.network_.predict(self._augment(X))

    def to_torch(self):
        """A ``torch.nn.Module`` (float64) whose output equals ``decision_function``/``predict``.

        For classifiers the module returns logits (one column for binary problems).
        """
        check_is_fitted(self, "network_")
        net = self.network_
        W1, b1 = self._split_bias(net.W1)
        gates, gate_bias = (None, None) if net.gates is None else self._split_bias(net.gates)
        return two_layer_module(W1, b1, net.W2, gates, gate_bias)


class _RegressionTargets:
    """Squared loss on real targets: ``fit`` and ``predict`` over ``_fit_arrays``/``_decision``."""

    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and ``y`` (n_samples[, n_outputs])."""
        X, Y, loss = self._prepare(X, y)
        return self._fit_arrays(X, Y, loss)

    def _prepare(self, X, y):
        _check_numeric(X, "X")
        _check_numeric(y, "y")
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._y_1d = y.ndim == 1
        return X, y.reshape(len(y), -1).astype(np.float64), SquaredLoss()

    def predict(self, X):
        """Network output, (n_samples,) for a 1-D target, else (n_samples, n_outputs)."""
        out = self._decision(X)
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class _ClassificationTargets:
    """Logistic (two classes) or cross-entropy loss on labels: ``fit``, ``predict``, scores."""

    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,)."""
        X, Y, loss = self._prepare(X, y)
        return self._fit_arrays(X, Y, loss)

    def _prepare(self, X, y):
        _check_numeric(X, "X")
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only one class ({self.classes_[0]!r}); a classifier needs at least two."
            )
        codes = self._encoder.transform(y)
        if len(self.classes_) == 2:
            Y = (2.0 * codes - 1.0)[:, None]
            loss = LogisticLoss()
        else:
            Y = np.eye(len(self.classes_))[codes]
            loss = CrossEntropyLoss()
        return X, Y, loss

    def decision_function(self, X):
        """Logits: (n_samples,) for two classes, else (n_samples, n_classes)."""
        out = self._decision(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict_proba(self, X):
        """Class probabilities (sigmoid or softmax of the logits), (n_samples, n_classes)."""
        scores = self._decision(X)
        if scores.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - p, p])
        scores = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Predicted class labels."""
        scores = self._decision(X)
        codes = (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(1)
        return self.classes_[codes]


class ConvexReLURegressor(RegressorMixin, _RegressionTargets, _ConvexTwoLayer):
    __doc__ = (
        """Two-layer ReLU regression network trained to a certified global optimum.

    ``loss(p, y) = (p - y)^2 / 2``, summed over samples and outputs.
"""
        + _OBJECTIVE_DOC
        + _PARAMS_DOC
        + _ATTRS_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from convexnet import ConvexReLURegressor
    >>> X, y = make_regression(n_samples=40, n_features=2, noise=1.0, random_state=0)
    >>> model = ConvexReLURegressor(alpha=1.0).fit(X, y / y.std())
    >>> model.relative_duality_gap_ < 1e-6
    True
"""
    )


class ConvexReLUClassifier(ClassifierMixin, _ClassificationTargets, _ConvexTwoLayer):
    __doc__ = (
        """Two-layer ReLU classification network trained to a certified global optimum.

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
    >>> from convexnet import ConvexReLUClassifier
    >>> X, y = make_moons(n_samples=40, noise=0.1, random_state=0)
    >>> clf = ConvexReLUClassifier(alpha=0.1).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
"""
    )
