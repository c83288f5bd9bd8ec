"""First-order solvers of the two-layer programs: matrix-free, on NumPy or PyTorch (CPU/CUDA).

Both programs are written over one stacked variable ``Z`` of shape ``(d, c, Q)`` whose columns are
the groups: ``Q = P`` for the gated program (``Z = U``) and ``Q = 2P`` for the exact one
(``Z = [V, W]``, signs ``s = (+1,..,+1, -1,..,-1)``). With ``M = D * s`` (``n x Q``) the lifted
operator and its adjoint are, without ever forming the ``n x (Q d)`` lifted matrix::

    A Z  = sum_q M[:, q] * (X Z[:, :, q])        (n, c)     one product X @ Z   (n d c Q flops)
    A^T R = X^T (M[:, None, :] * R[:, :, None])   (d, c, Q)  one product X^T @ . (n d c Q flops)

* Gated ReLU (SPEC.md §1.4): FISTA (:mod:`convexnet.solvers.fista`) on
  ``loss(A Z, Y) + alpha sum_q ||Z_q||``.
* Exact ReLU (SPEC.md §1.3): the cones ``S * (X Z) >= 0`` with ``S = 2D - 1`` are handled by the
  augmented Lagrangian method (:mod:`convexnet.solvers.auglag`) with FISTA inner solves. Its
  multipliers certify slowly, so every ``POLISH_EVERY`` iterations, when its support is new, the
  program restricted to the support is re-solved by Clarabel
  (:func:`polish_on_support`, a small program) and certified over all patterns; the last iterate
  is projected exactly onto the cones. With the squared and logistic losses the polish is a dense
  log-barrier method instead (:mod:`convexnet.solvers.working_set`,
  :func:`_barrier_polish_and_price`), grown by
  exact pricing of the patterns left out; Clarabel remains the fallback.

Stopping is on the *certified* relative duality gap (SPEC.md §1.5). The dual point is
``lam = -grad loss(A Z)``; its constraint value is bounded per group by

    gated:  ||X^T (D_q lam)||
    exact:  ||X^T (s_q D_q lam + S_q mu_q)||   for any mu_q >= 0

(the second is weak duality for the cone ``K_q = {u : S_q X u >= 0}``:
``s lam^T D X u <= (X^T (s D lam + S mu))^T u`` on ``K_q``), evaluated with the augmented
Lagrangian's multipliers ``mu``; at a KKT point both bounds are tight. The primal value for the
exact program is the objective of the *ReLU network* ``sum_q s_q (X Z_q)_+`` that recovery builds,
so a residual cone violation can only raise the reported gap, never hide.

Memory: ``O(n d + n c Q + d c Q)``; :func:`first_order_memory` estimates it before allocating.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from convexnet._backend import array_namespace, resolve_device, resolve_dtype, to_backend, to_numpy
from convexnet._validation import check_positive, check_positive_int
from convexnet.programs.two_layer import TwoLayerProgram, TwoLayerSolution
from convexnet.solvers.auglag import augmented_lagrangian
from convexnet.solvers.fista import GroupL2Penalty, fista
from convexnet.solvers.gated_polish import (
    POLISH_LOSSES,
    gated_polish_bytes,
    gated_polish_flops,
    polish_gated,
)
from convexnet.solvers.working_set import BARRIER_LOSSES

__all__ = [
    "FIRST_ORDER_METHODS",
    "solve_two_layer_first_order",
    "first_order_memory",
    "LiftedOperator",
]

FIRST_ORDER_METHODS = ("fista", "auglag")
#: Default number of first-order iterations (FISTA steps, summed over augmented-Lagrangian rounds).
DEFAULT_MAX_ITER = 10_000
#: Augmented Lagrangian: initial penalty scale and the most FISTA iterations of one outer step.
RHO_SCALE = 10.0
INNER_MAX_ITER = 1000
#: Exact program: polish on the support once the multiplier gap is below this.
#: Largest restricted program (``n * n_variables``) that the interior-point polish takes on.
POLISH_MAX_SIZE = 1e7
#: ... and only once the support is at most this fraction of the patterns (else it is no polish),
#: unless the restricted program is below POLISH_SMALL.
POLISH_MAX_FRACTION = 0.5
POLISH_SMALL = 1e6
#: Rounds of a polish attempt that add the patterns its dual point violates.
POLISH_GROW_ROUNDS = 3
#: Iterations between two polish attempts: ``POLISH_EVERY`` up to ``POLISH_EVERY_PATTERNS``
#: patterns, fewer above (down to ``POLISH_EVERY_MIN``), since an iteration costs ``O(n d P)``
#: while the screened polish does not grow with ``P`` (n = 1000, d = 10, P = 1000: 22.2 s with
#: the first polish at iteration 200, 9.5 s at 50), and in proportion fewer below
#: ``POLISH_EVERY_FEATURES`` columns of ``X``: a polish step costs ``(k d)^3`` for a support of
#: ``k`` patterns, so at small ``d`` a rougher support (larger ``k``) is cheap and the
#: iterations that would refine it are not. Exact programs, d = 10 (11 columns), 100 patterns,
#: the first polish at iteration 100 against 200: n = 10000 regression 13.2-13.8 s -> 10.6-10.8 s,
#: classification 11.6 s -> 9.4 s; the cross-over programs logistic (1000, 10, 100) 1.28 s ->
#: 1.12 s, (500, 10, 50) 0.45 s -> 0.36 s; n = 1000 classification 1.02 s -> 1.08 s. At 21
#: columns the first polish at 100 was slower (squared (500, 20, 100): 1.16 s -> 1.32 s).
POLISH_EVERY = 200
POLISH_EVERY_PATTERNS = 100
POLISH_EVERY_MIN = 50
POLISH_EVERY_FEATURES = 20
#: Groups below this fraction of the largest norm are left out of the polish's support.
SUPPORT_THRESHOLD = 1e-3
POLISH_BELOW = 1.0
#: Squared/logistic loss: groups above this fraction of the largest norm start the barrier's
#: support (exact pricing adds the patterns it misses). With 0.25 instead of 0.2 the six
#: exact cross-over cases took 4.23 s against 4.74 s in all at alpha = 0.1 alpha_max (6.59
#: against 7.83 at 0.05, 2.39 against 2.80 at 0.2; interleaved, best of two or three); 0.3
#: was as fast but its primal-dual polish divided by zero on logistic (500, 20, 100), and
#: 0.5 or 0.1 were 15-50% slower.
BARRIER_SUPPORT = 0.25
#: ... and takes on supports with ``n * 2 k d`` up to this (memory ``8 n k d`` bytes; each Newton
#: step costs ``n (2k) d^2 + (k d)^3 / 3`` flops).
BARRIER_MAX_SIZE = 2e8
#: A polish grown by pricing keeps the patterns above this fraction of the largest group norm.
BARRIER_KEEP = 1e-4
#: The barrier parameter grows by this factor per centring, up to a suboptimality bound of
#: this (relative). An interior point leaves the groups it drives to zero at about
#: ``1 / (t alpha)``: at 1e-8 the recovered network (atoms below 1e-7 of the largest dropped)
#: certified 2.3e-6 on a 120-sample, 100-pattern program, at 1e-10 3.6e-8, for 5% more time.
POLISH_MU = 4.0
POLISH_REL_GAP = 1e-10
#: Supports of more than ``POLISH_SCREEN_MIN`` patterns are first polished to a relative gap
#: of ``POLISH_SCREEN_GAP``; the patterns above ``POLISH_SCREEN_KEEP`` of its largest group
#: norm, and those it prices as violators, form the support of the tight polish. With 1e-2 the
#: screen dropped groups of 0.7-0.8% that the optimum uses (logistic (500, 20, 100) and
#: (1000, 10, 100)): pricing brought them back, one more polish; with 1e-3 logistic
#: (500, 20, 100) took 2.58-2.73 s against 3.11-3.38 s (interleaved runs), the rest the same.
#: Gated program: a Newton polish on FISTA's support (:mod:`convexnet.solvers.gated_polish`)
#: is tried once the certified gap is below ``GATED_POLISH_BELOW``, at most every
#: ``GATED_POLISH_EVERY`` iterations and only on a new support, when its flops
#: (:func:`~convexnet.solvers.gated_polish.gated_polish_flops`) are at most those of
#: ``GATED_POLISH_BUDGET`` FISTA iterations (``6 n d P`` each; the polish's dense products run
#: several times faster per flop than FISTA's passes: 400 polished logistic n = 1000, d = 10,
#: P = 1000 in 2.1 s against 6.6 s for FISTA alone, 100 did not polish it) and its largest
#: arrays (:func:`~convexnet.solvers.gated_polish.gated_polish_bytes`) fit
#: ``GATED_POLISH_MAX_BYTES``.
GATED_POLISH_BELOW = 0.1
GATED_POLISH_EVERY = 30
GATED_POLISH_BUDGET = 400.0
GATED_POLISH_MAX_BYTES = 1e9
POLISH_SCREEN_MIN = 16
POLISH_SCREEN_GAP = 1e-3
POLISH_SCREEN_KEEP = 1e-3
#: The screen takes at most ``POLISH_SCREEN_COLUMNS / d`` patterns (the largest groups of the
#: iterate), repeated while pricing adds more than ``POLISH_SCREEN_MIN``: at n = 1000, d = 10,
#: P = 1000 the iterate touched 219 patterns, of which the optimum uses 10.
POLISH_SCREEN_COLUMNS = 1000
#: Pricing: past ``PRICE_DESCENT_MIN`` groups whose bound exceeds ``alpha``, their multipliers
#: first take ``PRICE_DESCENT_STEPS`` accelerated projected-gradient steps together (in chunks
#: of ``PRICE_DESCENT_CHUNK`` groups: 64 took 7.4 s against 14.5 s for 512 at n = 10000, d = 11,
#: 2000 groups, the same at n = 1000), and only the groups still above ``alpha`` are projected.
PRICE_DESCENT_MIN = 32
PRICE_DESCENT_STEPS = 30
PRICE_DESCENT_CHUNK = 64
#: Exact program, squared or logistic loss, float64 on NumPy: the augmented Lagrangian's
#: iterations, which only choose the polish's support, run in ``SUPPORT_DTYPE``; the polishes
#: and every certificate are float64. Where no polish certifies, the float64 method continues
#: from the float32 iterate. At ``tol`` 1e-6, 200 iterations took 7.0 s instead of 14.5 s at
#: n = 10000, d = 20, 100 patterns, and 0.56 s instead of 1.0 s at n = 1000, d = 10 (logistic).
SUPPORT_DTYPE = "float32"
#: The float32 iterations hand over to the float64 method after ``LOW_MAX_POLISHES * polish_every``
#: iterations, or at the first polish that fails, whichever comes first.
LOW_MAX_POLISHES = 5
LOW_RANGE = (1e-20, 1e20)


def first_order_memory(
    n: int, d: int, c: int, n_patterns: int, gated: bool, itemsize: int = 8
) -> int:
    """Bytes the first-order solver allocates: data, masks, about seven ``n x c x Q`` images."""
    Q = n_patterns if gated else 2 * n_patterns
    images = 5 if gated else 8
    return itemsize * (n * d + 3 * n * Q + images * n * c * Q + 6 * d * c * Q + 4 * n * c)


class LiftedOperator:
    """``Z (d, c, Q) -> sum_q M[:, q] * (X Z[:, :, q])`` and its adjoint, never materialised."""

    def __init__(self, X, M):
        self.X, self.M = X, M
        self.xp = array_namespace(X)
        self.n, self.d = X.shape
        self.Q = M.shape[1]

    def image(self, Z):
        """``X Z`` for every group at once: shape ``(n, c, Q)``."""
        xp = self.xp
        c = Z.shape[1]
        return xp.reshape(self.X @ xp.reshape(Z, (self.d, c * self.Q)), (self.n, c, self.Q))

    def predict(self, image):
        """``sum_q M[:, q] * image[:, :, q]``, shape ``(n, c)``: one fused product, no temporary."""
        return self.xp.vecdot(image, self.M[:, None, :], axis=-1)

    def adjoint_image(self, G):
        """``X^T G`` for an ``(n, c, Q)`` array: shape ``(d, c, Q)``."""
        xp = self.xp
        c = G.shape[1]
        return xp.reshape(self.X.T @ xp.reshape(G, (self.n, c * self.Q)), (self.d, c, self.Q))

    def adjoint(self, R):
        """``A^T R`` for residual-like ``R`` of shape ``(n, c)``."""
        return self.adjoint_image(R[:, :, None] * self.M[:, None, :])

    def norm_squared(self, c: int, n_iter: int = 15, seed: int = 0) -> float:
        """``||A||^2`` estimated by power iteration (a few products; underestimates slightly)."""
        xp = self.xp
        rng = np.random.default_rng(seed)
        Z = to_backend(rng.standard_normal((self.d, c, self.Q)), _device_of(self.X), _dt(self.X))
        value = 1.0
        for _ in range(n_iter):
            nrm = float(xp.linalg.vector_norm(xp.reshape(Z, (-1,))))
            if nrm == 0:
                return 1.0
            Z = Z / nrm
            Z = self.adjoint(self.predict(self.image(Z)))
            value = float(xp.linalg.vector_norm(xp.reshape(Z, (-1,))))
        return max(value, 1e-300)


def _device_of(array):
    from array_api_compat import device, is_torch_array

    return str(device(array)) if is_torch_array(array) else None


def _dt(array) -> str:
    return resolve_dtype(array.dtype)


class _GatedSmooth:
    """``loss(A Z, Y)``."""

    def __init__(self, op: LiftedOperator, loss, Y):
        self.op, self.loss, self.Y = op, loss, Y
        self._last = (None, None)

    def image(self, Z):
        return self.op.image(Z)

    def _predict(self, image):
        # FISTA asks value() and gradient() about the same image in turn: predict once.
        if self._last[0] is not image:
            self._last = (image, self.op.predict(image))
        return self._last[1]

    def value(self, image) -> float:
        return self.loss.value(self._predict(image), self.Y)

    def gradient(self, image):
        return self.op.adjoint(self.loss.gradient(self._predict(image), self.Y))


class _AugLagSmooth(_GatedSmooth):
    """``loss(A Z, Y) + ||(mu - rho S * X Z)_+||^2 / (2 rho)`` (the cones ``S * X Z >= 0``)."""

    def __init__(self, op, loss, Y, S, mu, rho):
        super().__init__(op, loss, Y)
        self.S, self.mu, self.rho = S, mu, rho
        self.xp = op.xp
        self._scaled = (-rho * S)[:, None, :]  # one pass less per evaluation
        self._cache = (None, None)

    def _shifted(self, image):
        if self._cache[0] is not image:
            T = image * self._scaled
            T += self.mu
            self._cache = (image, _relu_(T))
        return self._cache[1]

    def value(self, image) -> float:
        T = self._shifted(image)
        return super().value(image) + _sum_squares(T) / (2.0 * self.rho)

    def gradient(self, image):
        op = self.op
        R = self.loss.gradient(self._predict(image), self.Y)
        G = self.S[:, None, :] * self._shifted(image)
        G -= R[:, :, None] * op.M[:, None, :]
        return -op.adjoint_image(G)


def _relu_(T):
    """``max(T, 0)`` in place (NumPy or PyTorch)."""
    if isinstance(T, np.ndarray):
        return np.maximum(T, 0.0, out=T)
    return T.clamp_(min=0.0)


def _sum_squares(T) -> float:
    """``sum(T**2)`` without a temporary (a BLAS dot product on NumPy)."""
    if isinstance(T, np.ndarray):
        v = T.reshape(-1)
        return float(v @ v)
    return float((T * T).sum())


class _Certifier:
    """The certified relative duality gap at an iterate (see the module docstring)."""

    def __init__(self, op, loss, Y, alpha, S=None, signs=None):
        self.op, self.loss, self.Y, self.alpha, self.S, self.signs = op, loss, Y, alpha, S, signs
        self.xp = op.xp
        self.last = {}

    def __call__(self, Z, image, mu=None) -> dict:
        xp, op = self.xp, self.op
        pred = op.predict(image)
        lam = -self.loss.gradient(pred, self.Y)
        G = lam[:, :, None] * op.M[:, None, :]
        if mu is not None:
            G = G + self.S[:, None, :] * mu
        kappa = xp.linalg.vector_norm(op.adjoint_image(G), axis=0)  # (c, Q)
        self.kappa_groups = kappa
        kbar = float(xp.max(kappa)) if kappa.size else 0.0
        scale = 1.0 if kbar <= self.alpha else self.alpha / kbar
        dual = self.loss.dual_value(lam * scale, self.Y)
        penalty = self.alpha * float(xp.sum(xp.linalg.vector_norm(Z, axis=0)))
        convex = self.loss.value(pred, self.Y) + penalty
        if self.S is None:
            primal, violation = convex, 0.0
        else:
            relu = xp.sum(xp.maximum(image, 0.0) * self.signs[None, None, :], axis=2)
            primal = self.loss.value(relu, self.Y) + penalty
            violation = float(xp.max(xp.maximum(-(self.S[:, None, :] * image), 0.0)))
            violation /= max(float(xp.max(xp.abs(image))), 1e-300)
        gap = primal - dual
        self.last = {
            "primal": primal,
            "convex_objective": convex,
            "dual": dual,
            "gap": gap,
            "relative_gap": gap / max(abs(primal), 1e-300),
            "kappa": kbar,
            "violation": violation,
        }
        return self.last


def solve_two_layer_first_order(
    program: TwoLayerProgram,
    *,
    tol: float = 1e-6,
    max_iter: int | None = None,
    device: str | None = None,
    dtype: str = "float64",
    warm_start: TwoLayerSolution | None = None,
    check_every: int = 10,
    verbose: bool = False,
) -> TwoLayerSolution:
    """Solve a two-layer program by FISTA (gated) or the augmented Lagrangian method (exact).

    Stops when the certified relative duality gap is at most ``tol`` (status ``"optimal"``) or
    after ``max_iter`` FISTA iterations in all (status ``"inaccurate"``, ``info["reason"]`` says
    so). ``device=None`` runs on NumPy; ``"cpu"`` or ``"cuda"`` on PyTorch; ``dtype`` is
    ``"float64"`` or ``"float32"``. ``warm_start`` starts from an earlier solution of a program
    over the same patterns (regularisation paths). ``info`` holds the certified ``gap``,
    ``relative_gap``, ``dual``, the cone ``violation`` (exact program) and the multipliers.

    Exact program with the squared or logistic loss, float64 on NumPy: the augmented
    Lagrangian's iterations, whose only use is to choose the polish's support, run in float32
    (``SUPPORT_DTYPE``; ``info["support_dtype"]``), about twice as fast; the polish, the
    returned solution and every certificate are float64. If no polish certifies ``tol``, the
    float64 method continues from the float32 iterate (``info["support_iterations"]``
    counts the float32 ones; ``iterations`` counts both).
    """
    if program.interpolate:
        raise ValueError(
            "the first-order solvers handle the regularised programs only; the minimum-norm "
            "interpolation form needs a conic solver (solver='CLARABEL')."
        )
    device = resolve_device(device)
    dtype = resolve_dtype(dtype)
    max_iter = DEFAULT_MAX_ITER if max_iter is None else check_positive_int(max_iter, "max_iter")
    check_every = check_positive_int(check_every, "check_every")
    check_positive(tol, "tol")
    start = time.perf_counter()
    options = dict(tol=tol, device=device, dtype=dtype, check_every=check_every, verbose=verbose)
    if not _support_in_low_precision(program, device, dtype):
        return _solve(program, max_iter=max_iter, warm_start=warm_start, low=False, **options)
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite stage hands over
        first = _solve(program, max_iter=max_iter, warm_start=warm_start, low=True, **options)
    if first.status == "optimal" or first.iterations >= max_iter:
        return first
    # No polish certified the float32 iterates: the float64 method goes on from there.
    rest = _solve(
        program, max_iter=max_iter - first.iterations, warm_start=first, low=False, **options
    )
    rest.info["support_iterations"] = first.iterations
    return dataclasses.replace(
        rest,
        iterations=first.iterations + rest.iterations,
        solve_time=time.perf_counter() - start,
    )


def _support_in_low_precision(program: TwoLayerProgram, device, dtype: str) -> bool:
    """Whether the augmented Lagrangian runs in ``SUPPORT_DTYPE`` (see there): not where
    ``||X||_F^2`` or ``||Y||^2`` leaves ``LOW_RANGE`` (float32 overflows near 3e38 and loses
    its digits below 1e-38: with ``Y`` scaled by 1e20 the float32 stage spent
    ``LOW_MAX_POLISHES`` periods on infinities before the hand-over)."""
    if program.gated or device is not None or dtype != "float64" or SUPPORT_DTYPE == "float64":
        return False
    scales = (float(np.sum(np.square(program.X))), float(np.sum(np.square(program.Y))))
    inside = all(LOW_RANGE[0] <= v <= LOW_RANGE[1] for v in scales)
    return program.loss.name in BARRIER_LOSSES and inside


def _solve(
    program: TwoLayerProgram,
    *,
    tol: float,
    max_iter: int,
    device,
    dtype: str,
    warm_start,
    check_every: int,
    verbose: bool,
    low: bool,
) -> TwoLayerSolution:
    """:func:`solve_two_layer_first_order` on validated arguments. With ``low`` (exact program
    only) the iterations run in ``SUPPORT_DTYPE`` and only a float64-certified polish ends
    them: the result is then ``"optimal"``, or ``"inaccurate"`` for the float64 method to
    continue from."""
    start = time.perf_counter()
    work = SUPPORT_DTYPE if low else dtype
    n, d, c, P = program.n_samples, program.n_features, program.n_outputs, program.n_patterns
    gated = program.gated
    D = program.D.astype(float)
    if gated:
        Mnp, Snp = D, None
    else:
        Mnp = np.concatenate([D, -D], axis=1)
        Snp = np.concatenate([2 * D - 1, 2 * D - 1], axis=1)
    X = to_backend(program.X, device, work)
    Y = to_backend(program.Y, device, work)
    op = LiftedOperator(X, to_backend(Mnp, device, work))
    xp = op.xp
    penalty = GroupL2Penalty(float(program.alpha))
    Z0 = np.zeros((d, c, op.Q))
    if warm_start is not None:
        if warm_start.V.shape != (P, d, c):
            raise ValueError(
                f"warm_start has variables of shape {warm_start.V.shape}; this program needs "
                f"{(P, d, c)} (the same patterns, features and outputs)."
            )
        Z0 = _stack_solution(warm_start, gated)
    Z = to_backend(Z0, device, work)
    loss_L = program.loss.smoothness() * op.norm_squared(c)
    history = []

    if gated:
        certifier = _Certifier(op, program.loss, Y, program.alpha)
        polish = {"seen_at": 0, "support": None}
        can_polish = _gated_polish_applies(program, device)

        def stop(Zk, image, k):
            info = certifier(Zk, image)
            history.append((k, info["relative_gap"]))
            if verbose:
                print(f"[fista] it {k:6d}  rel gap {info['relative_gap']:.3e}")
            if info["relative_gap"] <= tol:
                return True
            due = k - polish["seen_at"] >= GATED_POLISH_EVERY
            if not (can_polish and due and info["relative_gap"] <= GATED_POLISH_BELOW):
                return False
            # FISTA's iterate is exactly sparse: when its support is new and the Newton polish
            # on it costs at most GATED_POLISH_BUDGET iterations, polish and certify.
            Znp = to_numpy(Zk)[:, 0, :]
            support = tuple(np.flatnonzero(np.linalg.norm(Znp, axis=0) > 0))
            if support == polish["support"] or not _gated_polish_affordable(program, support):
                return False
            polish["support"], polish["seen_at"] = support, k
            polished = _gated_polish(program, Znp)
            if polished is None:
                return False
            Zb = to_backend(polished[:, None, :], device, dtype)
            quick = certifier(Zb, op.image(Zb))
            if verbose:
                print(
                    f"[fista] Newton polish on {len(support)} groups: gap "
                    f"{quick['relative_gap']:.3e}"
                )
            if quick["relative_gap"] <= tol:
                polish["Z"] = Zb
                return True
            return False

        res = fista(
            _GatedSmooth(op, program.loss, Y),
            penalty,
            Z,
            lipschitz=loss_L,
            max_iter=max_iter,
            stop=stop,
            check_every=check_every,
        )
        Z, image, n_iter, converged = res.x, res.image, res.n_iter, res.converged
        if "Z" in polish:
            Z, image = polish["Z"], op.image(polish["Z"])
        info = certifier(Z, image)
        extra = {"method": "fista", "polish": "newton" if "Z" in polish else None}
        mu = None
    else:
        S = to_backend(Snp, device, work)
        signs = np.r_[np.ones(P), -np.ones(P)]
        certifier = _Certifier(
            op, program.loss, Y, program.alpha, S=S, signs=to_backend(signs, device, work)
        )
        # Polishes and final points are certified in ``dtype`` (float64 where ``low``).
        op_f, certify = op, certifier
        if low:
            op_f = LiftedOperator(program.X, Mnp)
            certify = _Certifier(op_f, program.loss, program.Y, program.alpha, S=Snp, signs=signs)
        x_norm2 = float(np.linalg.norm(program.X, 2)) ** 2
        # The cone term acts on the few violated rows: scale rho by the largest row norm, so
        # that a row's penalty curvature is RHO_SCALE times the loss's.
        rho0 = RHO_SCALE * loss_L / max(float(np.max(np.sum(program.X**2, axis=1))), 1e-300)
        inner = {"eps": 0.1, "count": 0}
        polish_every = _polish_period(P, d)

        def done(Zk, image, mu_plus, rho, k):
            info = certifier(Zk, image, mu_plus)
            history.append((k, info["relative_gap"]))
            if verbose:
                print(
                    f"[auglag] it {k:6d}  rho {rho:.1e}  rel gap {info['relative_gap']:.3e}  "
                    f"violation {info['violation']:.1e}"
                )
            if _converged(info, tol) and not low:
                return True
            # The multiplier bound lags behind the primal: at most every polish_every iterations,
            # when the support is new, polish on it and check with exact per-pattern bounds.
            if low and k >= LOW_MAX_POLISHES * polish_every:
                return True  # no polish certified: hand over to the float64 method
            due = k - inner.get("seen_at", 0) >= polish_every
            if due and abs(info["relative_gap"]) <= POLISH_BELOW:
                Znp = to_numpy(Zk).astype(float)
                kappa = to_numpy(certifier.kappa_groups).max(axis=0).astype(float)
                support = tuple(np.flatnonzero(_support_mask(Znp, kappa, program.alpha)))
                if support == inner.get("support"):
                    return False
                inner["support"], inner["seen_at"] = support, k
                mu_np = to_numpy(mu_plus).astype(float)
                # Squared/logistic loss: the barrier polish, which prices the patterns left out
                # (exact bounds); else, or when it fails, Clarabel on the support.
                polished, grow, how, mu_check = None, POLISH_GROW_ROUNDS, "barrier", mu_np
                if program.loss.name in BARRIER_LOSSES:
                    found = _barrier_polish_and_price(program, Znp, mu_np)
                    grow = 0
                    if found is not None:
                        polished, mu_pol = found
                        # Its own multipliers (central path inside, NNLS or the augmented
                        # Lagrangian's outside) usually certify it without the exact check.
                        Zb = to_backend(polished, device, dtype)
                        mu_b = to_backend(mu_pol, device, dtype)
                        quick = certify(Zb, op_f.image(Zb), mu_b)
                        if verbose:
                            print(f"[auglag] barrier polish: gap {quick['relative_gap']:.3e}")
                        if _converged(quick, tol):
                            inner["polished"], inner["exact"] = polished, dict(quick)
                            inner["polish"], inner["mu"] = how, mu_pol
                            return True
                        mu_check = mu_pol
                if polished is None:
                    polished, grow = polish_on_support(program, Znp, kappa), POLISH_GROW_ROUNDS
                    how = "clarabel"
                for _ in range(grow):
                    if polished is None:
                        break
                    # Patterns the polished dual point violates join the support (column
                    # generation over patterns, priced with the cone-multiplier bound).
                    Zb = to_backend(polished, device, work)
                    certifier(Zb, op.image(Zb), mu_plus)
                    kappa_new = to_numpy(certifier.kappa_groups).max(axis=0)
                    grown = _support_mask(polished, kappa_new, program.alpha)
                    if not np.any(grown & ~_support_mask(polished, None, program.alpha)):
                        break
                    if certifier.last["relative_gap"] <= tol:
                        break
                    again = polish_on_support(program, polished, kappa_new)
                    if again is None:
                        break
                    polished = again
                if polished is None and abs(info["relative_gap"]) > 100 * tol:
                    return low  # float32 iterates need a polish: hand over to float64
                candidate = Znp if polished is None else polished
                exact = _exact_check(program, Snp, candidate, mu_check)
                if verbose:
                    print(f"[auglag] polished on the support: gap {exact['relative_gap']:.3e}")
                if exact["relative_gap"] <= tol:
                    inner["polished"], inner["exact"] = candidate, exact
                    inner["polish"] = how if polished is not None else "none"
                    inner["mu"] = mu_check
                    return True
                if low:
                    return True  # hand over to the float64 method
            return False

        def inner_done(Zk, image, mu_plus, rho, k):
            # An outer step ends when the subproblem's stationarity (the dual bound with the
            # multiplier the iterate implies) is within eps; eps halves each step, down to tol.
            inner["count"] += check_every
            if inner["count"] >= INNER_MAX_ITER or certifier.last["kappa"] <= program.alpha * (
                1.0 + inner["eps"]
            ):
                inner["count"], inner["eps"] = 0, max(inner["eps"] * 0.5, tol)
                return True
            return False

        res = augmented_lagrangian(
            lambda mu, rho: _AugLagSmooth(op, program.loss, Y, S, mu, rho),
            lambda image: S[:, None, :] * image,
            penalty,
            Z,
            xp.zeros((n, c, op.Q), dtype=X.dtype, device=_device_of(X)),
            rho=rho0,
            lipschitz_for=lambda rho: loss_L + rho * x_norm2,
            max_iter=max_iter,
            done=done,
            inner_done=inner_done,
            check_every=check_every,
            max_rho=100.0 * rho0,
            violation_tol=tol,
        )
        Z, n_iter, converged, mu = res.x, res.n_iter, res.converged, res.mu
        violation = certifier(Z, res.image, mu)["violation"]
        mu = to_backend(to_numpy(mu).astype(float), device, dtype) if low else mu
        if "polished" in inner:
            Z = to_backend(inner["polished"], device, dtype)
            # The multipliers that certified the polish, not the augmented Lagrangian's
            # (returned with the solution, they let the trainers' certificate match ours).
            mu = to_backend(inner["mu"], device, dtype)
        Znp = to_numpy(Z).astype(float)
        if low and not np.all(np.isfinite(Znp)):
            Znp = Z0  # float32 overflowed: the float64 method starts afresh
        Z = to_backend(project_onto_cones(program.X, Snp, Znp), device, dtype)
        info = certify(Z, op_f.image(Z), mu)
        # A float32 stage without an accepted polish hands over: its iterate was checked
        # where a polish was tried, and the float64 method certifies what follows.
        if not _converged(info, tol) and not (low and "polished" not in inner):
            # The accepted polish was certified on this very point (projected alike).
            exact = inner.get("exact") or _exact_check(program, Snp, to_numpy(Z), to_numpy(mu))
            if exact["relative_gap"] < info["relative_gap"]:
                info = dict(info, **exact)
        extra = {
            "method": "auglag",
            "rho": res.rho,
            "outer_iterations": res.n_outer,
            "violation_before_projection": violation,
            "polish": inner.get("polish"),
            "support_dtype": work,
        }
    status = "optimal" if _converged(info, tol) else "inaccurate"
    Znp = to_numpy(Z).astype(float)
    V = np.transpose(Znp[:, :, :P], (2, 0, 1))
    W = None if gated else np.transpose(Znp[:, :, P:], (2, 0, 1))
    info = dict(info, **extra, history=history, device=device or "numpy", dtype=dtype)
    if not converged and status != "optimal":
        info["reason"] = f"max_iter={max_iter} iterations reached before the gap reached {tol:g}"
    if mu is not None:
        info["multipliers"] = to_numpy(mu).astype(float)
    return TwoLayerSolution(
        V=V,
        W=W,
        status=status,
        objective=float(info["convex_objective"]),
        solve_time=time.perf_counter() - start,
        solver=extra["method"].upper(),
        iterations=int(n_iter),
        info=info,
    )


def _polish_period(n_patterns: int, n_features: int) -> int:
    """Iterations between two polish attempts of the augmented Lagrangian (``POLISH_EVERY``,
    fewer with many patterns or few features; see there)."""
    period = min(POLISH_EVERY, POLISH_EVERY * POLISH_EVERY_PATTERNS // max(n_patterns, 1))
    period = period * min(n_features, POLISH_EVERY_FEATURES) // POLISH_EVERY_FEATURES
    return max(POLISH_EVERY_MIN, period)


def _gated_polish_applies(program: TwoLayerProgram, device) -> bool:
    """The gated Newton polish: one output, a loss with a diagonal Hessian, on the host."""
    return program.n_outputs == 1 and program.loss.name in POLISH_LOSSES and device in (None, "cpu")


def _gated_polish_affordable(program: TwoLayerProgram, support) -> bool:
    """Whether a polish over ``support`` costs at most ``GATED_POLISH_BUDGET`` FISTA iterations
    (each about ``6 n d P`` flops: the image, the adjoint and a line-search image), counted
    in flops."""
    n, d, P = program.n_samples, program.n_features, program.n_patterns
    k = len(support)
    if k == 0 or gated_polish_bytes(n, d, k) > GATED_POLISH_MAX_BYTES:
        return False
    cost = gated_polish_flops(n, d, k, program.loss.name)
    return cost <= GATED_POLISH_BUDGET * 6.0 * n * d * P


def _gated_polish(program: TwoLayerProgram, Z: np.ndarray) -> np.ndarray | None:
    """:func:`convexnet.solvers.gated_polish.polish_gated` from the ``d x P`` iterate ``Z``."""
    try:
        return polish_gated(program.X, program.Y[:, 0], program.D, program.alpha, program.loss, Z)
    except (FloatingPointError, OverflowError, np.linalg.LinAlgError):
        return None


def project_onto_cones(X: np.ndarray, S: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Project every non-zero group ``Z[:, k, q]`` onto its cone ``{u : S_q * (X u) >= 0}``.

    By Moreau, ``Proj_K(z) = z + A^T nu`` with ``nu = argmin_{nu >= 0} ||z + A^T nu||`` and
    ``A = S_q X`` (non-negative least squares on the rows the group violates or nearly touches,
    grown until every row holds). Makes the augmented Lagrangian's last iterate exactly feasible,
    so the network that recovery builds is the convex solution.
    """
    from convexnet.certificates import cone_projection

    Z = np.array(Z, dtype=float, copy=True)
    d, c, Q = Z.shape
    for q in range(Q):
        A = S[:, q][:, None] * X
        for k in range(c):
            if np.any(Z[:, k, q]):
                Z[:, k, q] = cone_projection(A, Z[:, k, q])[0]
    return Z


def _groups_above(Z: np.ndarray, fraction: float) -> np.ndarray:
    """Groups ``Z[:, :, q]`` whose norm (the largest over outputs) exceeds ``fraction`` of the
    largest group's, shape ``(Q,)``."""
    norms = np.linalg.norm(Z, axis=0).max(axis=0)
    return norms > fraction * max(float(norms.max()), 1e-300)


def _patterns_of(groups: np.ndarray) -> np.ndarray:
    """The patterns ``i`` whose ``V_i`` or ``W_i`` is in the ``(2P,)`` mask ``groups``."""
    P = groups.size // 2
    return np.flatnonzero(groups[:P] | groups[P:])


def _support_mask(Z: np.ndarray, kappa: np.ndarray | None, alpha: float) -> np.ndarray:
    """Groups above ``SUPPORT_THRESHOLD`` of the largest norm, or whose dual bound exceeds alpha."""
    used = _groups_above(Z, SUPPORT_THRESHOLD)
    if kappa is not None:
        used |= kappa > alpha
    return used


def polish_on_support(program, Z: np.ndarray, kappa: np.ndarray | None = None):
    """Re-solve the exact program on the patterns the first-order iterate uses (interior point).

    The augmented Lagrangian finds the support (the patterns with a non-zero ``V_i`` or ``W_i``,
    plus those whose dual bound ``kappa`` still exceeds ``alpha``) long before its multipliers
    certify a small gap. The exact program restricted to those ``k`` patterns is small
    (``2 k d`` variables, ``2 k n`` cone rows): Clarabel solves it to 1e-10, and the caller
    certifies the result over *all* patterns, so a missed pattern costs time, never validity.
    Returns the full ``Z`` (zeros off the support), or ``None`` when the restricted program is
    too large to be worth it (``n * 2 k d > POLISH_MAX_SIZE``) or the solve fails.
    """
    from convexnet.solvers.conic import solve_two_layer_conic

    P = program.n_patterns
    support = _patterns_of(_support_mask(Z, kappa, program.alpha))
    size = program.n_samples * 2 * support.size * program.n_features
    # A support of most patterns is no polish, unless the whole program is small anyway.
    crowded = support.size > POLISH_MAX_FRACTION * P and size > POLISH_SMALL
    if support.size == 0 or size > POLISH_MAX_SIZE or crowded:
        return None
    if program.loss.name in BARRIER_LOSSES:
        out = _barrier_polish(program, Z, support)
        if out is not None:
            return out[0]
    sub = TwoLayerProgram(
        program.X,
        program.Y,
        program.D[:, support],
        program.generators[:, support],
        program.loss,
        program.alpha,
    )
    sol = solve_two_layer_conic(sub, solver="CLARABEL", tol=1e-10, max_iter=200)
    if sol.status in ("infeasible", "unbounded", "failed"):
        return None
    out = np.zeros_like(Z)
    out[:, :, support] = np.transpose(sol.V, (1, 2, 0))
    out[:, :, P + support] = np.transpose(sol.W, (1, 2, 0))
    return out


def _barrier_polish_and_price(
    program, Z: np.ndarray, mu: np.ndarray, rounds: int = POLISH_GROW_ROUNDS + 1
):
    """Squared/logistic loss: barrier polish on the iterate's support, grown by pricing.

    The support is the patterns whose ``V_i`` or ``W_i`` is above ``BARRIER_SUPPORT`` of the
    largest group norm in ``Z``. After each polish, the patterns left out are priced
    (:func:`_priced_out`); those whose exact dual bound exceeds ``alpha`` join the support
    (column generation). Returns ``(Z, multipliers)`` (full ``(d, c, 2P)`` and ``(n, c, 2P)``;
    ``mu``, the augmented Lagrangian's, fills in where no better multiplier is known) or
    ``None``. Each pricing hands its multipliers on to the next: near the same dual point they
    still bound most groups below ``alpha``, so fewer projections are solved again.
    """
    support = _patterns_of(_groups_above(Z, BARRIER_SUPPORT))
    cap = max(POLISH_SCREEN_MIN, POLISH_SCREEN_COLUMNS // program.n_features)
    capped = support.size > cap
    if capped:
        support = _largest_patterns(Z, support, cap)
    for _ in range(rounds):
        size = program.n_samples * 2 * support.size * program.n_features
        if support.size <= POLISH_SCREEN_MIN or size > BARRIER_MAX_SIZE:
            break
        # Screen first: a loose polish tells the patterns the optimum uses from those the
        # augmented Lagrangian's iterate merely touches, so the tight polish runs on fewer.
        # Past ``cap`` patterns only the largest groups are screened (a step costs (k d)^3),
        # and the screen runs again with the ``cap`` most violated patterns pricing finds.
        out = _barrier_polish(program, Z, support, rel_gap=POLISH_SCREEN_GAP)
        if out is None:
            break
        loose, mult = out
        extra, mu = _priced_out(program, loose, support, mult, mu, cap if capped else None)
        kept = _groups_above(loose, POLISH_SCREEN_KEEP)
        support = np.union1d(_patterns_of(kept), extra)
        Z = np.where(kept[None, None, :], loose, 0.0)
        if not capped or extra.size <= POLISH_SCREEN_MIN:
            break
    best = None
    for _ in range(rounds):
        size = program.n_samples * 2 * support.size * program.n_features
        if support.size == 0 or size > BARRIER_MAX_SIZE:
            return best
        out = _barrier_polish(program, Z, support)
        if out is None:
            return best
        polished, mult = out
        extra, mult = _priced_out(program, polished, support, mult, mu)
        best, mu = (polished, mult), mult
        if extra.size == 0:
            return best
        # The next polish: the patterns this one uses, plus the violators (the rest are priced
        # again after it). A smaller support is a much cheaper barrier: (k d)^3 per step.
        support = np.union1d(_patterns_of(_groups_above(polished, BARRIER_KEEP)), extra)
    return best


def _largest_patterns(Z: np.ndarray, support: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` patterns of ``support`` with the largest group (``V_i`` or ``W_i``) in ``Z``."""
    P = Z.shape[2] // 2
    norms = np.linalg.norm(Z, axis=0).max(axis=0)
    norms = np.maximum(norms[:P], norms[P:])[support]
    return np.sort(support[np.argsort(-norms, kind="stable")[:k]])


def _relu_predictions(X: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """``sum_i (X v_i)_+ - (X w_i)_+`` per output for ``Z = [V, W]`` (``d x c x 2P``)."""
    P = Z.shape[2] // 2
    signs = np.r_[np.ones(P), -np.ones(P)]
    return np.sum(np.maximum(np.einsum("nd,dcq->ncq", X, Z), 0.0) * signs, axis=2)


def _priced_out(
    program,
    Z: np.ndarray,
    support: np.ndarray,
    mult: np.ndarray,
    mu: np.ndarray,
    limit: int | None = None,
):
    """Patterns outside ``support`` whose exact dual bound at ``Z``'s dual point exceeds alpha.

    Per group outside: the multiplier bound ``||X^T (M_q lam + S_q mu_q)||`` with the augmented
    Lagrangian's ``mu`` first (one product for all groups), then the exact cone projection (NNLS,
    :func:`convexnet.certificates.cone_projection`) only where that exceeds ``alpha``, largest
    bound first, stopping after ``limit`` violators if given. Returns the patterns to add, most
    violated first, and ``mult`` completed with the multipliers used.
    """
    from convexnet.certificates import cone_projection

    X, alpha = program.X, float(program.alpha)
    n = program.n_samples
    P = program.n_patterns
    lam = program.loss.dual_point(_relu_predictions(X, Z), program.Y)
    Df = program.D.astype(float)
    M = np.concatenate([Df, -Df], axis=1)
    S = np.concatenate([2 * Df - 1, 2 * Df - 1], axis=1)
    inside = np.zeros(2 * P, dtype=bool)
    inside[support], inside[P + support] = True, True
    mult = np.where(inside[None, None, :], mult, np.maximum(mu, 0.0))
    c = lam.shape[1]
    G = lam[:, :, None] * M[:, None, :]
    gated = np.linalg.norm((X.T @ G.reshape(n, -1)).reshape(-1, c, 2 * P), axis=0)
    G = G + S[:, None, :] * mult
    kappa = np.linalg.norm((X.T @ G.reshape(n, -1)).reshape(-1, c, 2 * P), axis=0)  # (c, 2P)
    # mu = 0 gives the gated norm, a bound too: where it is the smaller, no multiplier is needed.
    low = (gated < kappa) & ~inside[None, :]
    mult = np.where(low[None, :, :], 0.0, mult)
    kappa = np.minimum(kappa, gated)
    cols, qs = np.nonzero((kappa > alpha) & ~inside[None, :])
    if cols.size > PRICE_DESCENT_MIN:
        kappa, mult = _descend_multipliers(X, lam, M, S, mult, kappa, cols, qs)
        cols, qs = np.nonzero((kappa > alpha) & ~inside[None, :])
    extra: dict[int, float] = {}
    for j in np.argsort(-kappa[cols, qs], kind="stable"):
        if limit is not None and len(extra) >= limit:
            break
        col, q = cols[j], qs[j]
        A = S[:, q][:, None] * X
        g = X.T @ (M[:, q] * lam[:, col])
        try:
            u, nu, _ = cone_projection(A, g)
        except RuntimeError:
            extra[q % P] = max(extra.get(q % P, 0.0), float(kappa[col, q]))
            continue
        mult[:, col, q] = nu
        value = float(np.linalg.norm(u))
        if value > alpha * (1 + 1e-9):
            extra[q % P] = max(extra.get(q % P, 0.0), value)
    order = sorted(extra, key=lambda i: -extra[i])
    return np.asarray(order, dtype=int), mult


def _descend_multipliers(X, lam, M, S, mult, kappa, cols, qs, steps: int | None = None):
    """Tighter multiplier bounds for the groups ``(cols, qs)``, all at once.

    Each group's bound ``||X^T (M_q lam + S_q nu)||`` holds for every ``nu >= 0``: accelerated
    projected gradient on ``||X^T (M_q lam + S_q nu)||^2 / 2`` from the current multipliers,
    ``steps`` rounds of two products with ``X`` for all the groups together, lowers most
    bounds of non-violators below ``alpha`` so that few cone projections (NNLS, one group at a
    time) remain. Returns a copy of ``kappa`` and ``mult`` itself, both updated where the bound
    went down (``mult``, ``n x c x 2P``, in place: copying it would cost as much as a step).
    """
    steps = PRICE_DESCENT_STEPS if steps is None else steps
    step = 1.0 / max(float(np.linalg.norm(X, 2)) ** 2, 1e-300)
    kappa = kappa.copy()
    for lo in range(0, cols.size, PRICE_DESCENT_CHUNK):
        c, q = cols[lo : lo + PRICE_DESCENT_CHUNK], qs[lo : lo + PRICE_DESCENT_CHUNK]
        G0, Sq = lam[:, c] * M[:, q], S[:, q]
        nu = np.maximum(mult[:, c, q], 0.0)
        prev, t = nu, 1.0  # nu is rebound each step, never written
        yk, T = np.empty_like(nu), np.empty_like(nu)
        for _ in range(steps):  # in place: these n x chunk arrays are the cost
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            np.subtract(nu, prev, out=yk)
            yk *= (t - 1.0) / t_next
            yk += nu
            np.multiply(Sq, yk, out=T)
            T += G0
            grad = X @ (X.T @ T)
            grad *= Sq
            grad *= -step
            grad += yk
            prev, nu, t = nu, np.maximum(grad, 0.0, out=grad), t_next
        bound = np.linalg.norm(X.T @ (G0 + Sq * nu), axis=0)
        better = bound < kappa[c, q]
        kappa[c[better], q[better]] = bound[better]
        mult[:, c[better], q[better]] = nu[:, better]
    return kappa, mult


def _barrier_polish(program, Z: np.ndarray, support: np.ndarray, rel_gap: float = POLISH_REL_GAP):
    """The squared/logistic polish by :func:`convexnet.solvers.working_set.barrier_columns`.

    Starts every group ``V_i``, ``W_i`` of the support at its pattern's generator moved towards
    the cone's analytic centre (:func:`~convexnet.solvers.working_set.central_generators`),
    scaled to the iterate's typical group norm. ``barrier_columns`` picks the primal-dual
    method up to ``PD_MAX_ROWS`` cone rows (the barrier finishing its path where it stalls) and
    the barrier above; the barrier's parameter grows by ``POLISH_MU`` per centring (4 was
    fastest at n = 1000 and 10000, d = 20, against 2 and 10). Returns
    ``(Z, multipliers)`` (full shapes, zero off the support) or ``None`` when a generator is
    not strictly inside or the barrier fails. (Starting instead from an earlier polish, near
    the cones' boundaries, took more Newton steps than this.)
    """
    from convexnet.solvers.working_set import BarrierFailure, barrier_columns, central_generators

    P = program.n_patterns
    D = program.D[:, support]
    gen = central_generators(program.X, D, program.generators[:, support])
    scales = []
    for col in range(program.n_outputs):
        norms = np.linalg.norm(Z[:, col, :], axis=0)
        scales.append(float(np.median(norms[norms > 0])) if np.any(norms > 0) else 1.0)
    try:
        Zs, mult_s, _, _ = barrier_columns(
            program.X,
            program.Y,
            D,
            gen,
            program.alpha,
            program.loss.name,
            scales,
            mu=POLISH_MU,
            rel_gap=rel_gap,
        )
    except (BarrierFailure, FloatingPointError, OverflowError):
        return None
    out = np.zeros_like(Z)
    mult = np.zeros((program.n_samples, program.n_outputs, 2 * P))
    both = np.r_[support, P + support]
    out[:, :, both] = Zs
    mult[:, :, both] = mult_s
    return out, mult


def _exact_check(program, S: np.ndarray, Z: np.ndarray, mu: np.ndarray) -> dict:
    """The certified gap of the projected iterate, with the exact per-pattern dual bounds.

    Projects onto the cones (so the ReLU network equals the convex solution), then certifies with
    :func:`convexnet.certificates.certify_two_layer` (multiplier bounds, refined by the cone
    projections where they exceed ``alpha``). Costs small NNLS problems: used near the end only.
    """
    from convexnet.certificates import certify_two_layer

    Z = project_onto_cones(program.X, S, Z)
    pred = _relu_predictions(program.X, Z)
    primal = program.loss.value(pred, program.Y) + program.alpha * float(
        np.sum(np.linalg.norm(Z, axis=0))
    )
    cert = certify_two_layer(
        program.X,
        program.Y,
        program.D,
        program.loss,
        program.alpha,
        pred,
        primal,
        cone_multipliers=mu,
    )
    return {
        "primal": float(primal),
        "convex_objective": float(primal),
        "dual": cert.dual,
        "gap": cert.gap,
        "relative_gap": cert.relative_gap,
        "kappa": cert.kappa,
        "violation": 0.0,
    }


def _converged(info: dict, tol: float) -> bool:
    """Certified gap within ``tol`` and cones that hold to that precision.

    A network whose neurons leave their cones is not covered by the dual bound over the given
    patterns (its gap may even be negative), so the exact program also asks that the ReLU
    network and the convex program agree to ``tol``.
    """
    scale = max(abs(info["primal"]), 1e-300)
    agree = abs(info["primal"] - info["convex_objective"]) <= tol * scale
    return abs(info["relative_gap"]) <= tol and agree and info["violation"] <= tol


def _stack_solution(solution: TwoLayerSolution, gated: bool) -> np.ndarray:
    blocks = [solution.V] if gated or solution.W is None else [solution.V, solution.W]
    if not gated and solution.W is None:
        blocks.append(np.zeros_like(solution.V))
    return np.concatenate([np.transpose(B, (1, 2, 0)) for B in blocks], axis=2)
