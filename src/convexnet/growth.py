"""Activation patterns beyond Gaussian sampling: seeding and column generation (SPEC.md §1.5).

A two-layer program over a subset ``S`` of the activation patterns is optimal only over ``S``
(SPEC §1.3, "Restricted pattern sets"). Its dual point ``lam = -grad loss(yhat)`` certifies
optimality over *every* pattern exactly when the dual constraint of SPEC §1.5 holds,

    kappa(lam) = max_{||u|| <= 1} |lam^T (X u)_+| <= alpha          (exact ReLU)
    max_{gates g} ||X^T D(g) lam|| <= alpha                           (gated ReLU)

so a pattern whose per-pattern value ``kappa_i^+-(lam) = ||Proj_{K_i}(+- X^T D_i lam)||``
(``||X^T D_i lam||`` gated) exceeds ``alpha`` is one whose addition lowers the objective
(a violated dual constraint is a column with negative reduced cost). This module

* seeds a pattern pool from Gaussian gates, hyperplanes through data points and the neurons
  of a short non-convex warm start (:func:`seed_patterns`);
* prices patterns against a dual point (:func:`price_patterns`): multi-start fixed-point
  ascent of ``u -> +-lam^T (X u)_+`` on the sphere (for gated programs also an ascent that
  moves the gate apart from the weight), single-sample sign flips of the active patterns (the
  neighbouring cells across their nearest hyperplanes), and perturbations of the current
  neurons;
* grows the working set until the search finds no violating pattern (:func:`grow_patterns`).

"No violating pattern found" is the result of a search, not a proof; the proven bound over
all patterns is a separate computation (:mod:`convexnet.certificates`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from convexnet.certificates import pattern_gradients, pattern_kappa
from convexnet.patterns import (
    ActivationPatterns,
    _pack_columns,
    merge_patterns,
    patterns_from_generators,
    sample_patterns,
)

__all__ = [
    "GrowthResult",
    "certificate_kind",
    "growth_scope_note",
    "PricingResult",
    "grow_patterns",
    "hyperplane_generators",
    "price_patterns",
    "seed_patterns",
    "warm_start_generators",
]

#: A pattern violates the dual constraint when its value exceeds ``alpha * (1 + VIOLATION_RTOL)``.
VIOLATION_RTOL = 1e-5
#: Search effort of the pricing oracle.
N_ASCENT_STARTS = 64
N_ASCENT_STEPS = 15
N_FLIPS = 16
#: The gated ascent (:func:`_gated_ascent`): per outer step, ``GATED_INNER_STEPS`` steps of
#: angle ``GATED_STEP`` on the sigmoid-smoothed gate objective, its temperature
#: ``GATED_TEMPERATURE`` times each gate's median ``|x_j^T g|``.
GATED_OUTER_STEPS = 5
GATED_INNER_STEPS = 5
GATED_STEP = 0.3
GATED_TEMPERATURE = 0.3
DIRECTION_BLOCK = 512  # candidate directions valued at a time (_direction_values)
MAX_EXACT_PRICING = 300  # cone projections per round at most (exact program)
SMALL_STEPS = (
    0.003,
    0.01,
    0.03,
    0.1,
)  # angles of the short-step ascent  # cone projections per round at most (exact program)
#: The loose first phase of column generation: solves to this gap, violations above this.
#: Its solves are cheap (the primal-dual method to 1e-5 on the barrier's working sets), so it
#: prices at the tight phase's threshold: with 1e-3, planted regression (n = 1000, d = 20)
#: left the loose phase after one round and found its 28 violators (4e-5 to 9e-5) in three
#: tight rounds of 25-36 s each; with 1e-5, two more loose rounds of 3.5 s found them (72.7 s
#: in all against 116.7 s).
LOOSE_TOL = 1e-4
LOOSE_RTOL = VIOLATION_RTOL
#: ... but never below the loose solve's own certified relative gap: a dual point that far
#: from the working set's optimum shows violations of that size that the next solve removes.
#: On planted regression (n = 10000, d = 50) working sets past 78 patterns leave the barrier
#: (``BARRIER_MAX_BLOCK``) for the augmented Lagrangian, which stops at gaps of 3e-5 to 5e-5;
#: priced at 1e-5 its points showed violations of 1.6e-5 to 6.5e-5 in every round, eight loose
#: rounds added 25-118 patterns each while the objective moved by 6e-8, and growth never
#: reached its tight phase.
#: A pattern of the working set is active when its groups exceed this fraction of the largest.
#: Interior-point solutions have no exact zeros, and on growth's working sets (many nearly
#: equal patterns) they spread weight over near-duplicates at almost no cost: at a relative
#: gap of 1e-7, 40 of 63 groups of planted regression (n = 1000, d = 20) lay between 1e-5 and
#: 1e-3 of the largest, where Clarabel's solution of a like set used 29 of 69 patterns. With
#: 1e-9 nothing was ever dropped (working sets of 60-70 patterns, 72.7 s); with 1e-3 the last
#: set held 25 patterns, the growth took 35.7 s, and its objective was lower (832.53881 against
#: 832.53886). A dropped pattern that is needed again is priced back in.
ACTIVE_RTOL = 1e-3
#: The gated programs' solvers (FISTA, Clarabel) leave no such spread; there the threshold
#: stays at roundoff: with 1e-3 the smaller working sets left the search oracle short of one
#: violator on a 30-sample test (objective 1% above the enumerated optimum).
GATED_ACTIVE_RTOL = 1e-9
#: ``ActivationPatterns.method`` of the working sets (the trainer solves them by the barrier).
GROWN_METHOD = "grown"
#: Column generation limits.
MAX_ROUNDS = 20
MAX_NEW_PER_ROUND = 25
#: With ``max_patterns`` (the estimators pass the barrier's size, ``barrier_max_patterns``) a
#: round adds only as many priced patterns as keep the working set within it, but at least
#: this many. Planted classification, n = 1000, d = 50: 71 patterns (56 active) took 36 s by
#: the barrier; 81, past its 78, took 159 s by the augmented Lagrangian.
MIN_NEW_PER_ROUND = 5
#: ``GrowthResult.reason`` when a working set repeats within a phase, which only a pattern
#: budget that trims groups the optimum needs brings about (violators remain).
BUDGET_REASON = "pattern budget reached (working sets repeat)"
#: Seeds.
N_GAUSSIAN_SEEDS = 100
N_HYPERPLANE_SEEDS = 50
WARM_START_WIDTH = 32
WARM_START_ITERATIONS = 150
#: The logistic loss's warm start: full-batch Adam (lr ``WARM_START_ADAM_LR``) with
#: ``WARM_START_ADAM_WIDTH`` neurons for ``WARM_START_ADAM_STEPS`` steps. L-BFGS stalls there on
#: wide, overparameterised data: planted classification, n = 1000, d = 50, its 150 steps at
#: width 32 ended at J = 261.95 (1000 steps at width 64: 257.59), Adam's 2000 steps at width 64
#: at 257.09 (1.7 s), where the benchmark's Adam runs reached 256.78 and growth stopped at
#: 257.58 after 20 rounds. On the squared loss L-BFGS was as good (832.69 against 832.65 at
#: d = 20, 3429.46 against 3429.64 at d = 50) and 8x faster.
WARM_START_ADAM_LOSSES = ("logistic",)
WARM_START_ADAM_WIDTH = 64
WARM_START_ADAM_STEPS = 2000
WARM_START_ADAM_LR = 1e-2
#: When the tight phase's search finds no violator, a probe (a fresh L-BFGS run of the
#: non-convex objective, another seed, width ``max(WARM_START_WIDTH, neurons)``,
#: ``PROBE_ITERATIONS`` steps) offers its neurons' patterns, scored exactly; at most
#: ``MAX_PROBES`` per growth. On planted classification (n = 1000, d = 20) the search had
#: stopped 1.6e-3 above Adam's best; probes of 0.6-3 s then found 7-39 patterns violating
#: the final dual point by up to 6%.
PROBE_ITERATIONS = 300
MAX_PROBES = 4
INITIAL_WORKING_SET = 20
SMALL_TORCH_WORK = 5e6  # n * d * width below which the warm start uses one thread


# ----------------------------------------------------------------------------------------
# Seeding
# ----------------------------------------------------------------------------------------


def hyperplane_generators(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``2k`` gates ``+-g`` normal to hyperplanes (through the origin) that pass through data.

    Each ``g`` spans the null space of ``d - 1`` random rows of ``X`` (with a ones column, a
    hyperplane through ``d - 1`` data points of the original space), nudged by ``1e-6`` in a
    random direction so that no row lies exactly on it.
    """
    n, d = X.shape
    if d < 2 or n < d - 1 or k < 1:
        return np.zeros((d, 0))
    G = []
    for _ in range(k):
        rows = rng.choice(n, size=d - 1, replace=False)
        _, s, Vt = np.linalg.svd(X[rows], full_matrices=True)
        g = Vt[-1]
        nudge = rng.standard_normal(d)
        g = g + 1e-6 * nudge / np.linalg.norm(nudge)
        G.append(g / np.linalg.norm(g))
    G = np.array(G).T
    return np.concatenate([G, -G], axis=1)


def warm_start_generators(
    X: np.ndarray,
    Y: np.ndarray,
    loss,
    alpha: float,
    *,
    width: int = WARM_START_WIDTH,
    iterations: int = WARM_START_ITERATIONS,
    optimizer: str = "lbfgs",
    random_state: int = 0,
) -> tuple[np.ndarray, float] | None:
    """First-layer weights of a short non-convex run (``optimizer``: ``"lbfgs"`` or
    ``"adam"``, ``iterations`` steps) on the non-convex objective, and its objective.

    ``J = loss(relu(X W1) W2, Y) + alpha/2 (||W1||^2 + ||W2||^2)`` with ``width`` neurons per
    output (decoupled outputs, as in the convex program), one start. Returns ``None`` when
    PyTorch (optional) is not installed.
    """
    try:
        import torch
    except ImportError:  # PyTorch is optional
        return None
    from convexnet.baselines import train_two_layer_nonconvex

    Y2 = Y.reshape(X.shape[0], -1)
    threads = torch.get_num_threads()
    if X.shape[0] * X.shape[1] * width < SMALL_TORCH_WORK:
        torch.set_num_threads(1)  # thread start-up dominates small products (10x-40x here)
    try:
        result = train_two_layer_nonconvex(
            X,
            Y2,
            width=width,
            alpha=alpha,
            loss=loss.name,
            n_starts=1,
            optimizer=optimizer,
            max_iter=iterations,
            lr=WARM_START_ADAM_LR,
            decoupled=Y2.shape[1] > 1,
            random_state=random_state,
        )
    finally:
        torch.set_num_threads(threads)
    return result.best.W1, result.best_objective


def seed_patterns(
    X: np.ndarray,
    Y: np.ndarray,
    loss,
    alpha: float,
    *,
    n_gaussian: int = N_GAUSSIAN_SEEDS,
    n_hyperplanes: int = N_HYPERPLANE_SEEDS,
    warm_start: bool = True,
    random_state=None,
) -> tuple[ActivationPatterns, ActivationPatterns | None, dict]:
    """A de-duplicated pool of patterns from three sources, and the warm start's own patterns.

    Sources: ``n_gaussian`` Gaussian gates (SPEC §1.2 sampling), ``2 n_hyperplanes`` gates
    normal to hyperplanes through data points (:func:`hyperplane_generators`), and the neurons
    of a short non-convex warm start (:func:`warm_start_generators`, skipped without PyTorch).
    Returns ``(pool, warm, info)``; ``warm`` holds the warm start's patterns (``None`` if
    skipped) and ``info`` the count from each source and the warm start's objective.
    """
    rng = np.random.default_rng(_seed_int(random_state))
    sets, info = [], {}
    if n_gaussian > 0:
        gauss = sample_patterns(X, n_gaussian, random_state=rng)
        sets.append(gauss)
        info["gaussian"] = gauss.n_patterns
    hyper = patterns_from_generators(
        X, hyperplane_generators(X, n_hyperplanes, rng), method="hyperplanes"
    )
    if hyper.n_patterns:
        sets.append(hyper)
    info["hyperplanes"] = hyper.n_patterns
    warm = None
    if warm_start:
        start = time.perf_counter()
        options = {}
        if loss.name in WARM_START_ADAM_LOSSES:
            options = dict(
                width=WARM_START_ADAM_WIDTH, iterations=WARM_START_ADAM_STEPS, optimizer="adam"
            )
        seed = int(rng.integers(2**31))
        found = warm_start_generators(X, Y, loss, alpha, random_state=seed, **options)
        if found is not None:
            W1, objective = found
            warm = patterns_from_generators(X, W1, method="warm start")
            sets.append(warm)
            info["warm_start"] = warm.n_patterns
            info["warm_start_objective"] = float(objective)
            info["warm_start_time"] = time.perf_counter() - start
        else:
            info["warm_start"] = "skipped (PyTorch is not installed)"
    if not sets:
        sets.append(sample_patterns(X, 1, random_state=rng))
    pool = merge_patterns(*sets)
    info["pool"] = pool.n_patterns
    return pool, warm, info


def _seed_int(random_state) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    return int(random_state)


# ----------------------------------------------------------------------------------------
# Pricing
# ----------------------------------------------------------------------------------------


def _direction_values(X: np.ndarray, U: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``max_k |lam_k^T (X u)_+|`` per unit column ``u`` of ``U``: lower bounds on ``kappa``."""
    out = np.zeros(U.shape[1])
    # In blocks of columns: one n x m product of tens of thousands of candidate directions
    # cost 3-5 s at n = 10000 (allocating it), the blocks about 0.6 s.
    for a in range(0, U.shape[1], DIRECTION_BLOCK):
        Z = X @ U[:, a : a + DIRECTION_BLOCK]
        np.maximum(Z, 0.0, out=Z)
        out[a : a + DIRECTION_BLOCK] = np.abs(lam.T @ Z).max(axis=0)
    return out


def _ascent(X: np.ndarray, lam: np.ndarray, U: np.ndarray, steps: int) -> tuple:
    """Fixed-point ascent ``u <- X^T (lam * 1[X u > 0]) / ||.||`` of ``lam^T (X u)_+``.

    Each step maximises the linearisation on the current cell over the unit sphere (the
    projected gradient step of infinite length). Returns every iterate, so that each visited
    cell is a candidate.
    """
    U = U / np.maximum(np.linalg.norm(U, axis=0), 1e-300)
    dirs = [U]
    for _ in range(steps):
        G = X.T @ (lam[:, None] * (X @ U > 0))
        norms = np.linalg.norm(G, axis=0)
        keep = norms > 0
        if not keep.any():
            break
        U = G[:, keep] / norms[keep]
        dirs.append(U)
    return np.concatenate(dirs, axis=1)


def _gated_ascent(
    X: np.ndarray, lam: np.ndarray, U: np.ndarray, steps: int = GATED_OUTER_STEPS
) -> np.ndarray:
    """Alternating ascent of the gated dual value ``||X^T D(g) lam||`` over gates ``g``.

    The gated value is ``max_{||u|| <= 1} sum_j 1[x_j^T g >= 0] c_j`` with ``c_j = lam_j
    x_j^T u``: for a gate the best ``u`` is ``X^T D(g) lam / ||.||``, and for that ``u`` the
    best gate puts every sample with ``c_j > 0`` on its positive side and every other on its
    negative side (a weighted halfspace problem). :func:`_ascent` takes ``g = u``, which
    keeps the samples with ``x_j^T u > 0`` whatever the sign of ``lam_j``; this ascent moves
    ``g`` instead by ``GATED_INNER_STEPS`` projected gradient steps on the smoothed
    ``sum_j c_j sigmoid(x_j^T g / tau)``. Starts at the columns of ``U``; returns every
    iterate (unit columns), so that each visited cell is a candidate.
    """
    G = U / np.maximum(np.linalg.norm(U, axis=0), 1e-300)
    M = X @ G  # kept current with G: each inner step ends by recomputing it
    dirs = [G]
    for _ in range(steps):
        W = X.T @ (lam[:, None] * (M > 0))
        norms = np.linalg.norm(W, axis=0)
        keep = norms > 0
        if not keep.any():
            break
        G, M = G[:, keep], M[:, keep]
        C = lam[:, None] * (X @ (W[:, keep] / norms[keep]))
        for _ in range(GATED_INNER_STEPS):
            tau = GATED_TEMPERATURE * np.median(np.abs(M), axis=0) + 1e-300
            sig = 1.0 / (1.0 + np.exp(-np.clip(M / tau, -50.0, 50.0)))
            grad = X.T @ (C * sig * (1.0 - sig) / tau)
            grad -= G * np.sum(grad * G, axis=0)
            G = G + GATED_STEP * grad / np.maximum(np.linalg.norm(grad, axis=0), 1e-300)
            G = G / np.maximum(np.linalg.norm(G, axis=0), 1e-300)
            M = X @ G
            dirs.append(G)
    return np.concatenate(dirs, axis=1)


def _small_step_ascent(X: np.ndarray, lam: np.ndarray, U: np.ndarray, steps: int) -> tuple:
    """Projected gradient ascent of ``lam^T (X u)_+`` on the sphere with short steps.

    From each column of ``U`` take ``steps`` steps of angle ``eta`` along the tangent part of
    the gradient ``X^T (lam * 1[X u > 0])``, for ``eta`` in ``SMALL_STEPS``; every iterate is
    returned. Short steps walk into the neighbouring cells that the fixed-point
    iteration of :func:`_ascent` jumps over.
    """
    U = U / np.maximum(np.linalg.norm(U, axis=0), 1e-300)
    dirs = []
    for eta in SMALL_STEPS:
        V = U
        for _ in range(steps):
            G = X.T @ (lam[:, None] * (X @ V > 0))
            G = G - V * np.sum(G * V, axis=0)[None, :]
            norms = np.linalg.norm(G, axis=0)
            V = V + eta * G / np.maximum(norms, 1e-300)[None, :]
            V = V / np.linalg.norm(V, axis=0)[None, :]
            dirs.append(V)
    return np.concatenate(dirs, axis=1) if dirs else np.zeros((X.shape[1], 0))


def _flip_generators(X: np.ndarray, G: np.ndarray, n_flips: int) -> np.ndarray:
    """Generators of the cells across the ``n_flips`` nearest hyperplanes of each ``g``.

    Reflecting ``g`` just past the hyperplane ``x_j^T u = 0`` flips the sign of sample ``j``
    (and of no other sample whose hyperplane is farther away).
    """
    if G.shape[1] == 0 or n_flips < 1:
        return np.zeros((X.shape[1], 0))
    rn = np.linalg.norm(X, axis=1)
    ok = rn > 0
    Xo, rno = X[ok], rn[ok]
    H = Xo @ G  # (n, k)
    dist = np.abs(H) / rno[:, None]
    k = min(n_flips, Xo.shape[0])
    nearest = np.argpartition(dist, k - 1, axis=0)[:k]  # (k, m)
    out = []
    for j in range(k):
        rows = nearest[j]
        x = Xo[rows]  # (m, d)
        coef = H[rows, np.arange(G.shape[1])] / rno[rows] ** 2
        out.append(G - (1.0 + 1e-3) * (coef[:, None] * x).T - 1e-9 * np.sign(coef) * x.T)
    return np.concatenate(out, axis=1)


@dataclass
class PricingResult:
    """Patterns that violate the dual constraint, most violated first.

    ``patterns`` are the violators (never in the working set); ``values`` their per-pattern
    dual-constraint values (``kappa_i`` exact or gated, the larger of the two signs, largest
    output column); ``best_value`` is the largest value seen over every candidate (a lower bound
    on ``kappa(lam)`` for the exact program when it comes from an evaluated direction);
    ``n_candidates`` how many distinct new patterns were scored.
    """

    patterns: ActivationPatterns
    values: np.ndarray
    best_value: float
    n_candidates: int
    n_exact: int


def _pattern_values(
    X,
    D,
    lam,
    gated: bool,
    floor: float,
    max_exact: int,
    enough: int | None = None,
    lower: np.ndarray | None = None,
) -> tuple:
    """Per-pattern dual-constraint values, and which of them are exact.

    Gated norms ``||X^T D_i lam_k||`` (the larger over output columns) are the exact values of
    the gated program and upper bounds for the exact program. For the exact program the
    patterns with the largest gated norm above ``floor`` get the exact
    ``max_+- ||Proj_{K_i}(+- X^T D_i lam_k)||``, in that order, until ``enough`` of them exceed
    ``floor`` or ``max_exact`` were computed (patterns whose known ``lower`` bound already
    exceeds ``floor`` first, largest first); the others keep their gated norm (an upper bound),
    and are not violators when it is at most ``floor``.
    """
    Z = pattern_gradients(X, D, lam)  # (P, d, c)
    values = np.linalg.norm(Z, axis=1).max(axis=1)
    if gated:
        return values, np.ones(values.shape, dtype=bool)
    exact = np.zeros(values.shape, dtype=bool)
    order = np.argsort(-values, kind="stable")
    order = order[values[order] > floor]
    if lower is not None:
        sure = order[lower[order] > floor]
        sure = sure[np.argsort(-lower[sure], kind="stable")]
        order = np.concatenate([sure, order[lower[order] <= floor]])
    order = order[:max_exact]
    found = 0
    for i in order:
        if enough is not None and found >= enough:
            break
        best = float(pattern_kappa(X, D[:, i].astype(float), Z[i], np.zeros(Z.shape[2])).max())
        values[i] = best
        exact[i] = True
        found += best > floor
    return values, exact


def _outside(candidates: ActivationPatterns, working: ActivationPatterns) -> ActivationPatterns:
    """The ``candidates`` that ``working`` does not hold (order kept)."""
    known = set(map(bytes, _pack_columns(working.D)))
    new = [bytes(key) not in known for key in _pack_columns(candidates.D)]
    return candidates.subset(np.flatnonzero(new))


def price_patterns(
    X: np.ndarray,
    lam: np.ndarray,
    alpha: float,
    working: ActivationPatterns,
    *,
    gated: bool = False,
    pool: ActivationPatterns | None = None,
    neurons: np.ndarray | None = None,
    active: np.ndarray | None = None,
    max_new: int = MAX_NEW_PER_ROUND,
    n_starts: int = N_ASCENT_STARTS,
    n_steps: int = N_ASCENT_STEPS,
    n_flips: int = N_FLIPS,
    rtol: float = VIOLATION_RTOL,
    random_state=None,
) -> PricingResult:
    """Search for activation patterns outside ``working`` whose dual constraint ``lam`` violates.

    Candidates: every pattern of ``pool``; the cells visited by fixed-point ascent of
    ``+-lam_k^T (X u)_+`` from ``n_starts`` Gaussian directions, from the ``neurons`` (columns,
    first-layer weights of the current network) and from ``+-X^T D_i lam_k`` of the ``active``
    patterns of ``working``; for gated programs also the cells of the gated ascent
    (:func:`_gated_ascent`) from the same starts; the neighbours of the active patterns across
    their ``n_flips`` nearest hyperplanes; and random perturbations of the neurons. A candidate
    violates when its per-pattern value exceeds ``alpha (1 + rtol)``. At most ``max_new``
    violators are returned, most violated first.
    """
    rng = np.random.default_rng(_seed_int(random_state))
    lam = lam.reshape(X.shape[0], -1)
    n, d = X.shape
    active_gens = working.generators[:, active] if active is not None else working.generators
    starts = [rng.standard_normal((d, n_starts))]
    if neurons is not None and neurons.size:
        W = neurons.reshape(d, -1)
        starts.append(W)
        scale = np.linalg.norm(W, axis=0)[None, :]
        for sigma in (0.01, 0.05, 0.3):
            starts.append(W + sigma * scale * rng.standard_normal(W.shape) / np.sqrt(d))
    flip_bases = [active_gens]
    if neurons is not None and neurons.size:
        # A neuron on a face of its cone (a tight constraint x_j^T v = 0) is where the
        # neighbouring cell across x_j improves the objective.
        flip_bases.append(neurons.reshape(d, -1))
    gens = [_flip_generators(X, np.concatenate(flip_bases, axis=1), n_flips)]
    gens += starts
    for k in range(lam.shape[1]):
        for sign in (1.0, -1.0):
            lk = sign * lam[:, k]
            S = list(starts)
            if active is not None and active.any():
                S.append(X.T @ (working.D[:, active] * lk[:, None]))
            S = np.concatenate(S, axis=1)
            gens.append(_ascent(X, lk, S, n_steps))
            if gated:  # the starts differ by sign (X^T D_i lam_k), so do the cells
                gens.append(_gated_ascent(X, lk, S))
            if neurons is not None and neurons.size:
                gens.append(_small_step_ascent(X, lk, neurons.reshape(d, -1), n_steps))
    if pool is not None:
        gens.append(pool.generators)
    G = np.concatenate(gens, axis=1)
    G = G / np.maximum(np.linalg.norm(G, axis=0), 1e-300)
    # Best direction first, so that de-duplication keeps each cell's best generator and its
    # value max_k |lam_k^T (X g)_+| is a lower bound on the cell's kappa_i.
    lower = _direction_values(X, G, lam)
    best_seen = float(lower.max(initial=0.0))
    order = np.argsort(-lower, kind="stable")
    candidates = _outside(patterns_from_generators(X, G[:, order], method="pricing"), working)
    floor = alpha * (1.0 + rtol)
    values, exact = _pattern_values(
        X,
        candidates.D,
        lam,
        gated,
        floor,
        max_exact=MAX_EXACT_PRICING,
        enough=max_new,
        lower=_direction_values(X, candidates.generators, lam),
    )
    # Violators must be certain: an unscored pattern above the floor is only an upper bound.
    viol = np.flatnonzero(exact & (values > floor))
    viol = viol[np.argsort(-values[viol])][:max_new]
    if exact.any():
        best_seen = max(best_seen, float(values[exact].max()))
    return PricingResult(
        patterns=candidates.subset(viol),
        values=values[viol],
        best_value=best_seen,
        n_candidates=candidates.n_patterns,
        n_exact=int(exact.sum()),
    )


# ----------------------------------------------------------------------------------------
# Column generation
# ----------------------------------------------------------------------------------------


@dataclass
class GrowthResult:
    """The outcome of :func:`grow_patterns`.

    ``fit`` is the last solve (a :class:`convexnet.training.TwoLayerFit`) over ``patterns``.
    ``reason`` is ``"no violating pattern found"`` (the oracle's search found none: a search
    result, not a proof), ``"max_rounds reached"``, ``"time limit reached"`` or
    ``BUDGET_REASON`` (violators remain; ``fit`` is then the round with the lowest objective).
    ``history`` has one entry per round: patterns, objective, certified gap over the working
    set, largest violation found, patterns added, the round's seconds, and the seconds
    from the start of growth (seeding included) to the end of the solve that gave the round's
    network (``elapsed``; a round that reuses the last solve keeps its time).
    """

    fit: object
    patterns: ActivationPatterns
    reason: str
    rounds: int
    history: list = field(default_factory=list)
    seeds: dict = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return self.reason == "no violating pattern found"

    def summary(self) -> dict:
        """Plain-data account of the growth (the estimators' ``growth_``)."""
        return {
            "reason": self.reason,
            "converged": self.converged,
            "rounds": self.rounds,
            "n_patterns": self.patterns.n_patterns,
            "history": [dict(h) for h in self.history],
            "seeds": dict(self.seeds),
        }


def growth_scope_note(growth: GrowthResult) -> str:
    """The clause a grown pattern set adds to a certificate's scope."""
    if growth.converged:
        return (
            f", grown by column generation until the pricing search found no violating "
            f"pattern ({growth.rounds} rounds; a search result, not a proof)"
        )
    return f", grown by column generation and stopped early ({growth.reason})"


def certificate_kind(patterns: ActivationPatterns, growth: dict | None) -> str:
    """Which certificate a fit carries, in words (the estimators' ``certificate_kind_``)."""
    if patterns.is_complete:
        return "global: every activation pattern enumerated, the bound holds for any network"
    proven = "proven_dual_objective_ holds against every network"
    if growth is None:
        return "sampled patterns: dual_objective_ holds only over the patterns used; " + proven
    if growth["converged"]:
        return (
            "grown patterns, no violating pattern found (a search, not a proof): "
            "dual_objective_ holds over the patterns used; " + proven
        )
    return (
        f"grown patterns, stopped early ({growth['reason']}; violating patterns remain): "
        "dual_objective_ holds over the patterns used; " + proven
    )


def _solution_on(solution, old: ActivationPatterns, new: ActivationPatterns):
    """The solution over ``old`` patterns, placed on ``new`` (zeros for added patterns)."""
    from convexnet.programs.two_layer import TwoLayerSolution

    index = {bytes(key): i for i, key in enumerate(_pack_columns(old.D))}
    where = [index.get(bytes(key), -1) for key in _pack_columns(new.D)]

    def place(B):
        if B is None:
            return None
        out = np.zeros((new.n_patterns,) + B.shape[1:])
        for j, i in enumerate(where):
            if i >= 0:
                out[j] = B[i]
        return out

    return TwoLayerSolution(
        V=place(solution.V),
        W=place(solution.W),
        status="warm start",
        objective=float("nan"),
        solve_time=0.0,
        solver="warm start",
    )


def _recall(X, lam, floor: float, dropped, gated: bool) -> tuple:
    """The ``dropped`` patterns whose exact dual-constraint value at ``lam`` exceeds ``floor``.

    Returns ``(recalled, still_dropped, best_value)``, the most violated recalled first; the
    pricing oracle is a search, so a pattern taken out of the working set is scored exactly
    every round rather than left for the search to find again.
    """
    if dropped is None or dropped.n_patterns == 0:
        return _no_patterns(X), dropped, 0.0
    values, exact = _pattern_values(X, dropped.D, lam, gated, floor, dropped.n_patterns)
    back = exact & (values > floor)
    best = float(values[exact].max(initial=0.0))
    rest = dropped.subset(np.flatnonzero(~back)) if back.any() else dropped
    order = np.flatnonzero(back)
    return dropped.subset(order[np.argsort(-values[order], kind="stable")]), rest, best


def _set_aside(dropped, patterns: ActivationPatterns) -> ActivationPatterns:
    """The patterns taken out of the working set so far (``dropped``, ``None`` if none yet)
    and ``patterns``."""
    return patterns if dropped is None else merge_patterns(dropped, patterns)


def _probe(X, Y, loss, alpha, lam, working, floor, gated, width, seed, max_new) -> tuple:
    """Patterns of a fresh short non-convex run whose exact value at ``lam`` exceeds ``floor``.

    Runs :func:`warm_start_generators` (``width`` neurons, ``PROBE_ITERATIONS`` L-BFGS steps,
    seed ``seed``) and scores the patterns of its neurons that ``working`` lacks exactly, like
    :func:`price_patterns`. Returns ``(violators, best_value)``, the ``max_new`` most violated
    first; no violators when PyTorch is not installed.
    """
    d = X.shape[1]
    none = _no_patterns(X)
    out = warm_start_generators(
        X, Y, loss, alpha, width=width, iterations=PROBE_ITERATIONS, random_state=seed
    )
    if out is None:
        return none, 0.0
    neurons = patterns_from_generators(X, out[0].reshape(d, -1), method="probe")
    candidates = _outside(neurons, working)
    if candidates.n_patterns == 0:
        return none, 0.0
    values, exact = _pattern_values(X, candidates.D, lam, gated, floor, candidates.n_patterns)
    viol = np.flatnonzero(exact & (values > floor))
    viol = viol[np.argsort(-values[viol])][:max_new]
    return candidates.subset(viol), float(values[exact].max(initial=0.0))


def _no_patterns(X) -> ActivationPatterns:
    """An empty pattern set for the data ``X``."""
    n, d = X.shape
    return ActivationPatterns(np.zeros((n, 0), dtype=bool), np.zeros((d, 0)), False, GROWN_METHOD)


def _group_norms(solution) -> np.ndarray:
    """The groups ``||V_i|| + ||W_i||`` of a two-layer solution."""
    norms = np.linalg.norm(solution.V.reshape(solution.V.shape[0], -1), axis=1)
    if solution.W is not None:
        norms = norms + np.linalg.norm(solution.W.reshape(solution.W.shape[0], -1), axis=1)
    return norms


def _active(norms: np.ndarray, rtol: float) -> np.ndarray:
    """Patterns whose groups (``norms``, :func:`_group_norms`) exceed ``rtol`` of the largest."""
    return norms > rtol * max(float(norms.max(initial=0.0)), 1e-300)


def _set_key(patterns: ActivationPatterns) -> frozenset:
    """The set of ``patterns``' columns, order aside (to tell a repeated working set)."""
    return frozenset(map(bytes, _pack_columns(patterns.D)))


def _within_budget(wanted: int, used: int, max_patterns: int | None) -> int:
    """How many of ``wanted`` new patterns join ``used`` ones: as many as keep the working set
    within ``max_patterns`` (no limit if ``None``), but at least ``MIN_NEW_PER_ROUND`` (and
    never more than ``max_patterns``)."""
    if max_patterns is None:
        return wanted
    return min(wanted, max(max_patterns - used, min(MIN_NEW_PER_ROUND, max_patterns)))


def _trim_to_budget(keep: np.ndarray, norms: np.ndarray, n_new: int, max_patterns) -> np.ndarray:
    """``keep`` without its smallest groups (by ``norms``), so that the kept patterns and
    ``n_new`` new ones number at most ``max_patterns`` (``keep`` itself if they already do)."""
    if max_patterns is None:
        return keep
    excess = int(keep.sum()) + n_new - max_patterns
    if excess <= 0:
        return keep
    kept = np.flatnonzero(keep)
    out = keep.copy()
    out[kept[np.argsort(norms[kept], kind="stable")[:excess]]] = False
    return out


def grow_patterns(
    X: np.ndarray,
    Y: np.ndarray,
    loss,
    alpha: float,
    solve,
    *,
    gated: bool = False,
    tol: float = 1e-6,
    rtol: float = VIOLATION_RTOL,
    max_rounds: int = MAX_ROUNDS,
    max_new: int = MAX_NEW_PER_ROUND,
    max_patterns: int | None = None,
    time_limit: float | None = None,
    warm_start: bool = True,
    drop_inactive: bool = True,
    random_state=None,
    verbose: bool = False,
) -> GrowthResult:
    """Column generation over activation patterns until the pricing oracle finds no violator.

    1. Seed a pool (:func:`seed_patterns`); the first working set is the warm start's patterns
       and the ``INITIAL_WORKING_SET`` pool patterns with the largest gated dual value at the
       warm start's (or the zero network's) dual point.
    2. ``fit = solve(patterns, warm, solve_tol)`` solves the program over the working set
       (``warm``: the last solution placed on the new set) to the relative gap ``solve_tol``
       and certifies it over that set.
    3. :func:`price_patterns` at ``lam = -grad loss(yhat)``; the ``max_new`` most violated
       patterns join the working set. With ``drop_inactive`` the patterns whose groups are
       below ``ACTIVE_RTOL`` of the largest in the last solution leave it (the solution without
       them stays feasible and its objective changes by about that fraction, so objectives do
       not increase beyond that and the solver's tolerance; a dropped pattern that is needed
       again is priced back in): smaller working sets, and fewer groups for the barrier to
       shrink to zero.
    4. Two phases: first loose (``solve_tol = LOOSE_TOL``, violation ``max(rtol,
       LOOSE_RTOL, the solve's certified relative gap)``); once that finds no violator, tight
       (``tol``, ``rtol``); the switch re-solves only when the loose solve's certified gap
       is above ``tol``, over the loose solution's active patterns (otherwise the same
       solution is priced at ``rtol``; ``history[i]["solved"]`` says which rounds solved).
       Stop when the tight phase finds none, after ``max_rounds`` rounds, or past
       ``time_limit`` seconds.
    5. With ``max_patterns``, a round adds only the new patterns (recalled, then priced, then
       probed; the most violated first within each) that keep the working set within it, and
       at least ``MIN_NEW_PER_ROUND``: those take the place of the smallest kept groups
       (``history[i]["trimmed"]``), which are scored again with the dropped ones. Every working
       set after the first is within the budget; the first holds all the warm start's patterns.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(_seed_int(random_state))
    Y2 = Y.reshape(X.shape[0], -1)
    pool, warm, seeds = seed_patterns(
        X, Y2, loss, alpha, warm_start=warm_start, random_state=int(rng.integers(2**31))
    )
    seeds["elapsed"] = time.perf_counter() - start  # the warm-start network is in hand
    lam0 = loss.dual_point(np.zeros_like(Y2, dtype=float), Y2)
    values, _ = _pattern_values(X, pool.D, lam0, True, np.inf, 0)  # gated norms
    first = _within_budget(
        INITIAL_WORKING_SET, 0 if warm is None else warm.n_patterns, max_patterns
    )
    top = np.argsort(-values)[: min(first, pool.n_patterns)]
    working = pool.subset(np.sort(top))
    if warm is not None:
        working = merge_patterns(warm, working)
    working = ActivationPatterns(working.D, working.generators, False, GROWN_METHOD)
    working = working.without_zero_pattern()  # the programs drop it (it adds D X u = 0)
    history, fit, solved, reason = [], None, None, "max_rounds reached"
    final = tol >= LOOSE_TOL
    reuse = False  # the last solve already meets the tight tol: price again without re-solving
    solved_at = 0.0
    caught: list = []
    dropped = None  # the patterns drop_inactive took out; scored exactly every round
    best = None  # (fit, patterns) of the lowest objective so far
    probes = 0
    seen = {(final, _set_key(working))}  # (phase, set) of every working set solved
    for rnd in range(max_rounds):
        t = time.perf_counter()
        did_solve = not reuse
        if did_solve:
            warm_solution = None
            if fit is not None:
                warm_solution = _solution_on(fit.solution, solved, working)
            with warnings.catch_warnings(record=True) as caught:  # only the last round's count
                warnings.simplefilter("always")
                fit, solved = solve(working, warm_solution, tol if final else LOOSE_TOL), working
            solved_at = time.perf_counter() - start  # this round's network is in hand
            if best is None or fit.objective < best[0].objective:
                best = (fit, solved)
        reuse = False
        lam = loss.dual_point(fit.network.predict(X).reshape(Y2.shape), Y2)
        norms = _group_norms(fit.solution)
        active = _active(norms, GATED_ACTIVE_RTOL if gated else ACTIVE_RTOL)
        round_rtol = rtol if final else max(rtol, LOOSE_RTOL, fit.certificate.relative_gap)
        priced = price_patterns(
            X,
            lam,
            alpha,
            working,
            gated=gated,
            pool=pool,
            neurons=fit.network.W1,
            active=active,
            max_new=max_new,
            rtol=round_rtol,
            random_state=int(rng.integers(2**31)),
        )
        floor = alpha * (1 + round_rtol)
        recalled, dropped, recall_best = _recall(X, lam, floor, dropped, gated)
        keep = active if drop_inactive else np.ones(working.n_patterns, dtype=bool)
        probed, probe_best = _no_patterns(X), 0.0
        if final and priced.patterns.n_patterns + recalled.n_patterns == 0 and probes < MAX_PROBES:
            probes += 1
            width = max(WARM_START_WIDTH, fit.network.n_neurons)
            seed = int(rng.integers(2**31))
            probed, probe_best = _probe(
                X, Y2, loss, alpha, lam, working, floor, gated, width, seed, max_new
            )
        # New patterns, the most violated first within each kind, as many as the budget leaves
        # room for (at least MIN_NEW_PER_ROUND: they take the place of the smallest kept groups).
        kinds = (recalled, priced.patterns, probed)
        n_new = _within_budget(sum(k.n_patterns for k in kinds), int(keep.sum()), max_patterns)
        counts, left = [], n_new
        for kind in kinds:
            counts.append(min(kind.n_patterns, left))
            left -= counts[-1]
        n_recalled, _, n_probed = counts
        if n_recalled < recalled.n_patterns:  # the recalled ones left out stay dropped
            dropped = _set_aside(
                dropped, recalled.subset(np.arange(n_recalled, recalled.n_patterns))
            )
        new = [kind.subset(np.arange(c)) for kind, c in zip(kinds, counts)]
        untrimmed = int(keep.sum())
        keep = _trim_to_budget(keep, norms, n_new, max_patterns)
        entry = {
            "round": rnd,
            "final_phase": final,
            "patterns": working.n_patterns,
            "active": int(active.sum()),
            "objective": float(fit.objective),
            "relative_gap": float(fit.certificate.relative_gap),
            "max_violation": float(max(priced.best_value, recall_best, probe_best) / alpha - 1.0),
            "added": n_new,
            "recalled": n_recalled,
            "probed": n_probed,
            "trimmed": untrimmed - int(keep.sum()),
            "solved": did_solve,
            "candidates": priced.n_candidates,
            "seconds": time.perf_counter() - t,
            "elapsed": solved_at,
        }
        history.append(entry)
        if verbose:
            print(
                f"[grow] round {rnd}: {entry['patterns']} patterns ({entry['active']} active), "
                f"objective {entry['objective']:.10g}, gap {entry['relative_gap']:.1e}, "
                f"best kappa/alpha - 1 = {entry['max_violation']:.2e}, +{entry['added']}"
            )
        if n_new == 0:
            if final:
                reason = "no violating pattern found"
                break
            final = True  # re-solve at tol and price at rtol, over the same patterns
            # ... unless the loose solve is already certified to tol (Clarabel's first
            # tolerance is tol / 100 of LOOSE_TOL, which often gets there): price it again.
            reuse = bool(fit.certificate.relative_gap <= tol)
            if not reuse and not keep.all():  # without the loose solution's inactive groups
                dropped = _set_aside(dropped, working.subset(np.flatnonzero(~keep)))
                working = working.subset(np.flatnonzero(keep))
            continue
        if time_limit is not None and time.perf_counter() - start > time_limit:
            reason = "time limit reached"
            break
        if not keep.all():
            dropped = _set_aside(dropped, working.subset(np.flatnonzero(~keep)))
        merged = merge_patterns(working.subset(np.flatnonzero(keep)), *new)
        working = ActivationPatterns(merged.D, merged.generators, False, GROWN_METHOD)
        key = (final, _set_key(working))
        if key in seen:  # a budget that trims groups the optimum needs: the sets cycle
            reason = BUDGET_REASON
            fit, solved = best
            break
        seen.add(key)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return GrowthResult(
        fit=fit,
        patterns=solved,
        reason=reason,
        rounds=len(history),
        history=history,
        seeds=seeds,
    )
