"""Column generation over the blocks of the three-layer program (SPEC.md §3.5; issue 6, item 5).

The three-layer program over a subset of its blocks is optimal only over that subset. Its dual
point ``lam = -grad loss(yhat)`` is feasible for a larger block set exactly when every block
``b`` of it satisfies the dual constraint of SPEC §3.5,

    rho_b(lam) = max { sigma lam^T D2_b sum_j D1_{i_bj} X v_j : v feasible for b,
                       sum_j ||v_j|| <= 1 }  <=  alpha,

so a block with ``rho_b > alpha`` is a column with negative reduced cost: adding it lowers the
objective. This module grows a working set out of a fixed *pool* of blocks (built by
:func:`~convexnet.programs.three_layer.build_blocks`, normally with more blocks than one wants to
solve over):

1. the first working set is the ``initial_blocks`` pool blocks with the largest cheap bound
   ``max_j ||X^T D1_{i_bj} D2_b lam||`` at the zero network's dual point;
2. solve over the working set (:func:`~convexnet.three_layer.train_three_layer`);
3. price every pool block outside the working set at ``lam`` (:func:`price_blocks`): cheap bound,
   then the member-wise cone projection (another upper bound), then the SOCP value
   :func:`~convexnet.certificates.block_kappa`; a block is a violator when that value exceeds
   ``alpha (1 + rtol)``; the ``max_new`` most violated join the working set (none ever leaves,
   so the objective never increases, up to the solver's tolerance);
4. stop when no pool block violates (``"no violating block found"``) or after ``max_rounds``.

Every bound used to *dismiss* a block is rigorous (an upper bound on ``rho_b``), and when no
violator is found every pool block above the threshold has been examined. So "no violating block
found" means: at the final dual point, every pool block satisfies ``rho_b <= alpha (1 + rtol)``
(solver tolerances aside), i.e. the working-set solution is optimal over the whole pool. It says
nothing about blocks outside the pool, unless the pool is complete (first-layer patterns
enumerated, every mixed set present, second-layer patterns enumerated). The final certificate
is computed over the pool (:func:`~convexnet.certificates.certify_three_layer`), so its scope is
the pool's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from convexnet.certificates import (
    block_kappa,
    certify_three_layer,
    pattern_gradients,
    pattern_kappa,
)
from convexnet.programs.three_layer import BlockSet, build_blocks

__all__ = [
    "BlockGrowthResult",
    "BlockPricing",
    "block_growth_scope_note",
    "block_upper_bounds",
    "grow_blocks",
    "price_blocks",
]

#: A block violates the dual constraint when its value exceeds ``alpha * (1 + VIOLATION_RTOL)``.
VIOLATION_RTOL = 1e-5
MAX_ROUNDS = 20
MAX_NEW_PER_ROUND = 10
#: SOCPs per round at most once a violator has been found (none found: all candidates are scored).
MAX_EXACT_PRICING = 60
INITIAL_BLOCKS = 10


def _members_of(blocks: BlockSet) -> list[list[tuple[int, float]]]:
    out: list[list[tuple[int, float]]] = [[] for _ in range(blocks.n_blocks)]
    for a in range(blocks.n_members):
        out[blocks.member_block[a]].append(
            (int(blocks.member_pattern[a]), float(blocks.member_sign[a]))
        )
    return out


def block_upper_bounds(X: np.ndarray, blocks: BlockSet, lam: np.ndarray) -> np.ndarray:
    """The cheap bound ``max_k max_j ||X^T D1_{i_bj} D2_b lam_k|| >= rho_b`` of every block (B,)."""
    lam = lam.reshape(X.shape[0], -1)
    M = blocks.D1[:, blocks.member_pattern] & blocks.D2[:, blocks.member_block]  # (n, A)
    Z = pattern_gradients(X, M, lam)
    norms = np.linalg.norm(Z, axis=1).max(axis=1)  # (A,)
    out = np.zeros(blocks.n_blocks)
    np.maximum.at(out, blocks.member_block, norms)
    return out


def _member_bound(X, blocks, members, b, lam) -> float:
    """``max_{j,sigma,k} ||Proj_{K_j}(sigma X^T D1_j D2_b lam_k)|| >= rho_b`` (no coupling rows)."""
    D2 = blocks.D2[:, b].astype(float)
    best = 0.0
    # The member's sign s only negates its cone, and max_{+-} ||Proj_{sK}(+-z)|| is the same
    # for s = -1 and s = +1.
    for i, _ in members:
        D1 = blocks.D1[:, i].astype(float)
        Z = X.T @ ((D1 * D2)[:, None] * lam)
        best = max(best, float(pattern_kappa(X, D1, Z, np.zeros(lam.shape[1])).max()))
    return best


def block_value(X: np.ndarray, blocks: BlockSet, b: int, lam: np.ndarray, members=None) -> float:
    """``max_k rho_b(lam_k)`` of block ``b`` by the SOCP of :func:`block_kappa`."""
    lam = lam.reshape(X.shape[0], -1)
    members = _members_of(blocks)[b] if members is None else members
    return max(
        block_kappa(X, blocks.D1, members, blocks.D2[:, b], lam[:, k]) for k in range(lam.shape[1])
    )


@dataclass
class BlockPricing:
    """Pool blocks that violate the dual constraint, most violated first.

    ``blocks``: pool indices of the violators (never in the working set); ``values``: their
    ``rho_b`` (SOCP values); ``best_value``: the largest SOCP value computed (0 if none);
    ``n_candidates``: pool blocks outside the working set whose cheap bound exceeded the
    threshold; ``n_exact``: SOCPs solved; ``unresolved``: candidates left unexamined (only ever
    non-zero when violators were found).
    """

    blocks: np.ndarray
    values: np.ndarray
    best_value: float
    n_candidates: int
    n_exact: int
    unresolved: int


def price_blocks(
    X: np.ndarray,
    lam: np.ndarray,
    alpha: float,
    pool: BlockSet,
    working: np.ndarray,
    *,
    max_new: int = MAX_NEW_PER_ROUND,
    max_exact: int = MAX_EXACT_PRICING,
    rtol: float = VIOLATION_RTOL,
    members=None,
) -> BlockPricing:
    """Price the pool blocks not in ``working`` (pool indices) at the dual point ``lam``.

    Candidates in decreasing order of the cheap bound; a candidate whose cheap bound or
    member-wise cone-projection bound is at most ``alpha (1 + rtol)`` is dismissed (both are
    upper bounds on ``rho_b``); the others get the SOCP value. Scoring stops once ``max_exact``
    SOCPs were solved *and* a violator was found; with no violator every candidate is scored.
    """
    lam = lam.reshape(X.shape[0], -1)
    members = _members_of(pool) if members is None else members
    threshold = alpha * (1.0 + rtol)
    outside = np.ones(pool.n_blocks, dtype=bool)
    outside[np.asarray(working, dtype=np.intp)] = False
    cheap = block_upper_bounds(X, pool, lam)
    cand = np.flatnonzero(outside & (cheap > threshold))
    cand = cand[np.argsort(-cheap[cand], kind="stable")]
    found, values, n_exact, best, unresolved = [], [], 0, 0.0, 0
    for t, b in enumerate(cand):
        if found and n_exact >= max_exact:
            unresolved = cand.size - t
            break
        if _member_bound(X, pool, members[b], b, lam) <= threshold:
            continue
        value = block_value(X, pool, int(b), lam, members[b])
        n_exact += 1
        best = max(best, value)
        if value > threshold:
            found.append(int(b))
            values.append(value)
    order = np.argsort(-np.array(values), kind="stable")[:max_new]
    return BlockPricing(
        blocks=np.array(found, dtype=np.intp)[order],
        values=np.array(values)[order],
        best_value=best,
        n_candidates=int(cand.size),
        n_exact=n_exact,
        unresolved=unresolved,
    )


@dataclass
class BlockGrowthResult:
    """The outcome of :func:`grow_blocks`.

    ``fit``: the last :class:`~convexnet.three_layer.ThreeLayerFit` (over ``blocks``), its
    certificate recomputed over the ``pool`` when ``certify_pool``; ``working``: pool indices of
    the working set; ``reason``: ``"no violating block found"`` (every pool block satisfies the
    dual constraint at the last dual point) or ``"max_rounds reached"``; ``history``: one entry per
    round (blocks, objective, gap over the working set, largest ``rho/alpha - 1`` computed,
    blocks added with their values, seconds); ``certified_over_pool``: whether ``fit``'s
    certificate was computed over the pool.
    """

    fit: object
    blocks: BlockSet
    pool: BlockSet
    working: np.ndarray
    reason: str
    rounds: int
    history: list = field(default_factory=list)
    certified_over_pool: bool = False

    @property
    def converged(self) -> bool:
        return self.reason == "no violating block found"

    def summary(self) -> dict:
        """Plain-data account of the growth (the estimators' ``growth_``)."""
        return {
            "reason": self.reason,
            "converged": self.converged,
            "rounds": self.rounds,
            "n_blocks": self.blocks.n_blocks,
            "pool_blocks": self.pool.n_blocks,
            "pool_complete": bool(self.pool.is_complete),
            "history": [dict(h) for h in self.history],
        }


def block_growth_scope_note(growth: BlockGrowthResult) -> str:
    """The clause a grown block set adds to a certificate's scope."""
    kind = "complete" if growth.pool.is_complete else "sampled"
    over = (
        f"the {kind} pool of {growth.pool.n_blocks} blocks"
        if growth.certified_over_pool
        else f"the {growth.blocks.n_blocks} grown blocks"
    )
    how = (
        f"{growth.blocks.n_blocks} of them grown by column generation in {growth.rounds} rounds "
        "until no pool block violated the dual constraint"
        if growth.converged
        else f"blocks grown by column generation and stopped early ({growth.reason})"
    )
    return f"; certified over {over}, {how}"


def _initial(X, Y2, loss, pool: BlockSet, k: int) -> np.ndarray:
    lam0 = loss.dual_point(np.zeros_like(Y2, dtype=float), Y2)
    cheap = block_upper_bounds(X, pool, lam0)
    return np.sort(np.argsort(-cheap, kind="stable")[: min(k, pool.n_blocks)])


def grow_blocks(
    X: np.ndarray,
    Y: np.ndarray,
    loss,
    alpha: float,
    *,
    width: int = 2,
    patterns=None,
    pool: BlockSet | None = None,
    second_layer_patterns: str | int = 16,
    max_pool_blocks: int | None = 2000,
    initial_blocks: int = INITIAL_BLOCKS,
    max_rounds: int = MAX_ROUNDS,
    max_new: int = MAX_NEW_PER_ROUND,
    max_exact: int = MAX_EXACT_PRICING,
    rtol: float = VIOLATION_RTOL,
    tol: float = 1e-6,
    certify_pool: bool = True,
    random_state=None,
    solve=None,
    verbose: bool = False,
) -> BlockGrowthResult:
    """Grow the three-layer program's blocks by column generation (see the module docstring).

    The pool is ``pool`` if given, else ``build_blocks(X, patterns, width,
    second_layer=second_layer_patterns, max_blocks=max_pool_blocks)`` (``patterns`` defaults to
    32 Gaussian gates). ``solve(blocks)`` returns a ``ThreeLayerFit`` over a block set (default:
    :func:`~convexnet.three_layer.train_three_layer` at ``tol``).
    """
    from convexnet.patterns import sample_patterns
    from convexnet.three_layer import train_three_layer

    Y2 = np.asarray(Y, dtype=float).reshape(X.shape[0], -1)
    if pool is None:
        if patterns is None:
            patterns = sample_patterns(X, 32, random_state=random_state)
        pool = build_blocks(
            X,
            patterns,
            width,
            second_layer=second_layer_patterns,
            max_blocks=max_pool_blocks,
            n_outputs=Y2.shape[1],
            random_state=random_state,
        )
    if solve is None:

        def solve(blocks):
            return train_three_layer(X, Y2, loss, alpha, blocks=blocks, tol=tol)

    members = _members_of(pool)
    working = _initial(X, Y2, loss, pool, initial_blocks)
    history, reason, fit = [], "max_rounds reached", None
    for rnd in range(max_rounds):
        t = time.perf_counter()
        blocks = pool.subset(working)
        fit, solved = solve(blocks), working
        lam = loss.dual_point(fit.network.predict(X).reshape(Y2.shape), Y2)
        priced = price_blocks(
            X,
            lam,
            alpha,
            pool,
            working,
            max_new=max_new,
            max_exact=max_exact,
            rtol=rtol,
            members=members,
        )
        entry = {
            "round": rnd,
            "blocks": int(working.size),
            "objective": float(fit.objective),
            "relative_gap": float(fit.certificate.relative_gap),
            "max_violation": float(priced.best_value / alpha - 1.0),
            "added": [int(b) for b in priced.blocks],
            "added_values": [float(v) for v in priced.values],
            "candidates": priced.n_candidates,
            "exact": priced.n_exact,
            "seconds": time.perf_counter() - t,
        }
        history.append(entry)
        if verbose:
            print(
                f"[grow3] round {rnd}: {working.size} blocks, objective {entry['objective']:.10g}, "
                f"gap {entry['relative_gap']:.1e}, +{priced.blocks.size} "
                f"({priced.n_exact} SOCPs, {priced.n_candidates} candidates)"
            )
        if priced.blocks.size == 0:
            reason = "no violating block found"
            break
        working = np.sort(np.concatenate([working, priced.blocks]))
    if certify_pool:
        fit.certificate = certify_three_layer(
            X, Y2, pool, loss, alpha, fit.network.predict(X), fit.objective
        )
    return BlockGrowthResult(
        fit=fit,
        blocks=pool.subset(solved),
        pool=pool,
        working=solved,
        reason=reason,
        rounds=len(history),
        history=history,
        certified_over_pool=bool(certify_pool),
    )
