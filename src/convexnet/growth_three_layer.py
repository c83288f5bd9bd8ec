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
4. when no pool block violates, search beyond the pool (:func:`search_blocks`: new first-layer
   patterns by the two-layer oracle, second-layer flips and pairs of the active blocks, and
   projected ascent of a sub-network's dual value); its violators join the pool and the
   working set;
5. stop when neither finds a violator (``"no violating block found"``) or after ``max_rounds``.

Every bound used to *dismiss* a block is rigorous (an upper bound on ``rho_b``), and when no
violator is found every pool block above the threshold has been examined. So "no violating block
found" means: at the final dual point, every pool block satisfies ``rho_b <= alpha (1 + rtol)``
(solver tolerances aside), i.e. the working-set solution is optimal over the whole pool. It says
nothing about blocks outside the (extended) pool, unless the pool is complete (first-layer
patterns enumerated, every mixed set present, second-layer patterns enumerated): the search
beyond it is a search result, not a proof. The final certificate
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
from convexnet.growth import _seed_int
from convexnet.programs.three_layer import BlockSet, build_blocks

__all__ = [
    "BlockGrowthResult",
    "BlockPricing",
    "block_growth_scope_note",
    "block_upper_bounds",
    "grow_blocks",
    "price_blocks",
    "search_blocks",
]

#: A block violates the dual constraint when its value exceeds ``alpha * (1 + VIOLATION_RTOL)``.
VIOLATION_RTOL = 1e-5
MAX_ROUNDS = 20
MAX_NEW_PER_ROUND = 10
#: SOCPs per round at most once a violator has been found (none found: all candidates are scored).
MAX_EXACT_PRICING = 60
INITIAL_BLOCKS = 10
#: The search beyond the pool: second-layer flips per active mixed block (the samples where
#: its ``h`` is nearest zero), and the new first-layer patterns paired with active blocks.
N_D2_FLIPS = 8
N_PAIRED_PATTERNS = 4
#: ... and the projected ascent of a sub-network's dual value: Gaussian starts and steps.
N_BLOCK_STARTS = 64
N_BLOCK_STEPS = 40
#: ... whose ``N_FLIPPED_ENDS`` best end points also offer their second-layer flips.
N_FLIPPED_ENDS = 16


def _add_flips(members: list, D2s: list, mem, D2, h, reach, n_flips: int) -> None:
    """Append ``mem`` with ``D2`` flipped at each of the ``n_flips`` samples nearest ``h = 0``
    among those a member reaches (elsewhere ``h = 0`` and a flip gives the same block)."""
    rows = np.flatnonzero(reach)
    for i in rows[np.argsort(np.abs(h[rows]))[:n_flips]]:
        flipped = D2.copy()
        flipped[i] = ~flipped[i]
        members.append(mem)
        D2s.append(flipped)


def _index_patterns(D1: np.ndarray, generators: np.ndarray) -> tuple:
    """``(D1, generators, {packed column: index})``."""
    return D1, generators, {bytes(np.packbits(D1[:, i])): i for i in range(D1.shape[1])}


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


def _with_patterns(blocks: BlockSet, D1: np.ndarray, generators: np.ndarray) -> BlockSet:
    """``blocks`` over the first-layer patterns ``D1`` (its own first, then new columns)."""
    return BlockSet(
        D1,
        generators,
        blocks.member_pattern,
        blocks.member_sign,
        blocks.member_block,
        blocks.D2,
        blocks.width,
        blocks.first_layer_complete and D1.shape[1] == blocks.D1.shape[1],
        blocks.second_layer_complete,
    )


def _block_set(D1, generators, members: list, D2: list, width: int) -> BlockSet:
    """A :class:`BlockSet` from per-block member lists ``[(pattern, sign), ...]`` and ``D2``."""
    pattern = [i for mem in members for i, _ in mem]
    sign = [s for mem in members for _, s in mem]
    block = [b for b, mem in enumerate(members) for _ in mem]
    return BlockSet(
        D1,
        generators,
        np.asarray(pattern, dtype=np.intp),
        np.asarray(sign, dtype=float),
        np.asarray(block, dtype=np.intp),
        np.stack(D2, axis=1) if D2 else np.zeros((D1.shape[0], 0), dtype=bool),
        width,
        False,
        False,
    )


def _block_key(members, D2: np.ndarray) -> tuple:
    return (tuple(sorted((int(i), float(s)) for i, s in members)), np.packbits(D2).tobytes())


def _concat_blocks(a: BlockSet, b: BlockSet) -> BlockSet:
    """The blocks of ``a`` then those of ``b`` (same first-layer patterns)."""
    return BlockSet(
        a.D1,
        a.generators,
        np.r_[a.member_pattern, b.member_pattern],
        np.r_[a.member_sign, b.member_sign],
        np.r_[a.member_block, b.member_block + a.n_blocks],
        np.hstack([a.D2, b.D2]),
        a.width,
        a.first_layer_complete and b.first_layer_complete,
        a.second_layer_complete,
    )


def _ascent_blocks(X, lam, network, width, n_starts, n_steps, rng) -> list:
    """Blocks visited by projected ascent of a sub-network's dual value (SPEC §3.5).

    By the key identity of SPEC §3.2, ``max_b rho_b(lam)`` over every block of width ``m1`` is
    ``max sigma lam^T (sum_j s_j (X z_j)_+)_+`` over ``sum_j ||z_j|| <= 1`` and signs ``s``.
    From Gaussian starts with mixed signs, and from the sub-networks of ``network``
    (``z_j = |w2_j| w1_j``, ``s_j = sign w2_j``) and perturbations of them, take ``n_steps``
    normalised gradient steps on ``z`` (rescaled to ``sum_j ||z_j|| = 1``), for both output
    signs and every output column. Returns the visited end points as ``(Z, s)`` pairs
    and their values, as ``(Z, s, value)`` (``Z`` of shape ``(d, m)``); their blocks (patterns
    of the ``z_j``, ``D2 = 1[h > 0]``) are candidates to price exactly.
    """
    n, d = X.shape
    m = max(int(width), 2)
    Zs, Ss = [], []
    signs = np.ones(m)
    signs[1::2] = -1.0  # mixed: a block of one sign is a sum of two-layer atoms
    Zs.append(rng.standard_normal((n_starts, d, m)))
    Ss.append(np.tile(signs, (n_starts, 1)))
    if network is not None and network.W1.size:
        W1 = network.W1[:, :, :m]
        w2 = network.w2[:, :m]
        base = W1 * np.abs(w2)[:, None, :]
        sg = np.where(w2 < 0, -1.0, 1.0)
        if base.shape[2] < m:
            pad = m - base.shape[2]
            base = np.concatenate([base, np.zeros((base.shape[0], d, pad))], axis=2)
            sg = np.concatenate([sg, np.tile(signs[-pad:], (sg.shape[0], 1))], axis=1)
        scale = np.linalg.norm(base, axis=1).sum(axis=1)[:, None, None] + 1e-300
        for sigma in (0.0, 0.05, 0.3):
            Zs.append(base / scale + sigma * rng.standard_normal(base.shape) / np.sqrt(d))
            Ss.append(sg)
    Z0, S0 = np.concatenate(Zs), np.concatenate(Ss)
    out = []
    for k in range(lam.shape[1]):
        for out_sign in (1.0, -1.0):
            Z, S = Z0.copy(), S0
            g = out_sign * lam[:, k]
            for t in range(n_steps):
                Z /= np.linalg.norm(Z, axis=1).sum(axis=1)[:, None, None] + 1e-300
                A = np.einsum("nd,sdm->smn", X, Z)
                h = np.einsum("sm,smn->sn", S, np.maximum(A, 0.0))
                w = g[None, :] * (h > 0)  # (S, n)
                G = np.einsum("nd,smn->sdm", X, (A > 0) * w[:, None, :]) * S[:, None, :]
                step = 0.3 / (1 + t) ** 0.5
                Z = Z + step * G / (np.linalg.norm(G, axis=(1, 2))[:, None, None] + 1e-300)
            Z /= np.linalg.norm(Z, axis=1).sum(axis=1)[:, None, None] + 1e-300
            A = np.einsum("nd,sdm->smn", X, Z)
            h = np.einsum("sm,smn->sn", S, np.maximum(A, 0.0))
            values = np.maximum(h, 0.0) @ g
            out.extend((Z[i], S[i], float(values[i])) for i in range(Z.shape[0]))
    return out


def search_blocks(
    X: np.ndarray,
    lam: np.ndarray,
    alpha: float,
    pool: BlockSet,
    working: np.ndarray,
    fit,
    *,
    max_new: int = MAX_NEW_PER_ROUND,
    max_exact: int = MAX_EXACT_PRICING,
    rtol: float = VIOLATION_RTOL,
    n_flips: int = N_D2_FLIPS,
    n_paired: int = N_PAIRED_PATTERNS,
    n_starts: int = N_BLOCK_STARTS,
    n_steps: int = N_BLOCK_STEPS,
    random_state=None,
) -> tuple[BlockSet, BlockPricing]:
    """Blocks outside the pool that violate the dual constraint at ``lam``, found by search.

    The two-layer pricing oracle's search, applied to the blocks (SPEC §3.5):

    1. **New first-layer patterns** by :func:`convexnet.growth.price_patterns` (projected
       ascent from random directions and from the network's first-layer neurons, neighbours
       across the nearest hyperplanes of the pool's patterns): a pattern ``i`` whose exact
       two-layer value exceeds ``alpha`` is a violating *single* block ``(sigma, {(i, +)}, I)``,
       whose ``rho_b`` is that value.
    2. **Second-layer flips**: for each active mixed block of ``working`` (a non-zero group in
       ``fit.solution``), its ``D2`` with one sample flipped, at the ``n_flips`` samples where
       its ``h = sum_j D1_j X v_j`` is nearest zero.
    3. **Pairs**: the ``n_paired`` most violating new patterns in place of either member of each
       active mixed block (same ``D2``).
    4. **Projected ascent** of a sub-network's dual value (:func:`_ascent_blocks`): the block of
       each end point (the patterns of its neurons, ``D2 = 1[h > 0]``), and for the
       ``N_FLIPPED_ENDS`` best end points also their second-layer flips as in 2.

    Candidates already in the pool are skipped; the rest are priced like pool blocks
    (:func:`price_blocks`: rigorous bounds, then the SOCP value). Returns ``(extended, priced)``:
    the pool with the new first-layer patterns and the violating blocks appended (``priced``
    indexes the appended blocks in ``extended``), or the pool itself when nothing violates.
    """
    from convexnet.growth import price_patterns
    from convexnet.patterns import ActivationPatterns, patterns_from_generators

    rng = np.random.default_rng(_seed_int(random_state))

    lam = lam.reshape(X.shape[0], -1)
    none = BlockPricing(np.zeros(0, dtype=np.intp), np.zeros(0), 0.0, 0, 0, 0)
    if pool.is_complete:
        return pool, none
    first = ActivationPatterns(pool.D1, pool.generators, False, "pool")
    W1 = np.transpose(fit.network.W1, (1, 0, 2)).reshape(X.shape[1], -1)
    W1 = W1[:, np.linalg.norm(W1, axis=0) > 0]
    found = price_patterns(
        X,
        lam,
        alpha,
        first,
        gated=False,
        neurons=W1 if W1.size else None,
        max_new=max(max_new, n_paired),
        rtol=rtol,
        random_state=random_state,
    )
    P1 = pool.D1.shape[1]
    D1 = np.hstack([pool.D1, found.patterns.D])
    gens = np.hstack([pool.generators, found.patterns.generators])
    ones = np.ones(X.shape[0], dtype=bool)
    members: list = [[(P1 + j, 1.0)] for j in range(found.patterns.n_patterns)]
    D2s: list = [ones] * found.patterns.n_patterns
    # Active mixed blocks of the working set, with their second-layer pre-activations h.
    sub = pool.subset(working)
    sub_members = _members_of(sub)
    norms = np.linalg.norm(fit.solution.V, axis=1).sum(axis=1)
    norms = norms + np.linalg.norm(fit.solution.W, axis=1).sum(axis=1)
    top = max(float(norms.max(initial=0.0)), 1e-300)
    for b in np.flatnonzero(sub.mixed):
        idx = np.flatnonzero(sub.member_block == b)
        if norms[idx].sum() <= 1e-6 * top:
            continue
        mem = sub_members[b]
        D2 = sub.D2[:, b]
        reach = np.any(sub.D1[:, [i for i, _ in mem]], axis=1)
        for Vs in (fit.solution.V, fit.solution.W):
            h = sum(sub.D1[:, sub.member_pattern[a]] * (X @ Vs[a]).sum(axis=1) for a in idx)
            if np.any(h):
                _add_flips(members, D2s, mem, D2, h, reach, n_flips)
        for j in range(min(n_paired, found.patterns.n_patterns)):
            for k in range(len(mem)):
                swapped = [(P1 + j, mem[k][1])] + [m for t, m in enumerate(mem) if t != k]
                members.append(swapped)
                D2s.append(D2)
    # Projected ascent of the sub-network's dual value: the blocks at its end points.
    D1, gens, keys = _index_patterns(D1, gens)
    ends = _ascent_blocks(X, lam, fit.network, pool.width, n_starts, n_steps, rng)
    flip_from = set(np.argsort([-v for *_, v in ends])[:N_FLIPPED_ENDS].tolist())
    for e, (Z, sg, _) in enumerate(ends):
        cols = np.linalg.norm(Z, axis=0) > 1e-9
        if np.unique(sg[cols]).size < 2:
            continue
        each = [
            patterns_from_generators(X, Z[:, [c]], method="block ascent") for c in range(Z.shape[1])
        ]
        if any(each[c].n_patterns != 1 for c in np.flatnonzero(cols)):
            continue  # a neuron on a hyperplane: its pattern is ambiguous
        mem = []
        for col in np.flatnonzero(cols):
            key = bytes(np.packbits(each[col].D[:, 0]))
            if key not in keys:
                keys[key] = D1.shape[1]
                D1 = np.hstack([D1, each[col].D])
                gens = np.hstack([gens, each[col].generators])
            mem.append((keys[key], float(sg[col])))
        h = sum(s_ * np.maximum(X @ Z[:, c], 0.0) for s_, c in zip(sg[cols], np.flatnonzero(cols)))
        members.append(mem)
        D2s.append(h > 0)
        if e in flip_from:
            reach = np.any(D1[:, [i for i, _ in mem]], axis=1)
            _add_flips(members, D2s, mem, h > 0, h, reach, n_flips)
    known = {_block_key(m, pool.D2[:, b]) for b, m in enumerate(_members_of(pool))}
    keep, seen = [], set()
    for t, (m, D2) in enumerate(zip(members, D2s)):
        key = _block_key(m, D2)
        if key not in known and key not in seen and len(set(m)) == len(m):
            seen.add(key)
            keep.append(t)
    if not keep:
        return pool, none
    cand = _block_set(D1, gens, [members[t] for t in keep], [D2s[t] for t in keep], pool.width)
    priced = price_blocks(
        X,
        lam,
        alpha,
        cand,
        np.zeros(0, dtype=np.intp),
        max_new=max_new,
        max_exact=max_exact,
        rtol=rtol,
    )
    if priced.blocks.size == 0:
        return pool, priced
    extended = _concat_blocks(_with_patterns(pool, D1, gens), cand.subset(priced.blocks))
    order = np.argsort(np.argsort(priced.blocks))  # subset() sorts its indices
    appended = pool.n_blocks + order
    return extended, BlockPricing(
        appended,
        priced.values,
        priced.best_value,
        priced.n_candidates,
        priced.n_exact,
        priced.unresolved,
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
    searched: int = 0

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
            "searched_blocks": int(self.searched),
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
    if growth.searched:
        how += (
            f" ({growth.searched} pool blocks found by the search beyond the first pool; "
            "that search is a search result, not a proof)"
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
    search: bool = True,
    random_state=None,
    solve=None,
    verbose: bool = False,
) -> BlockGrowthResult:
    """Grow the three-layer program's blocks by column generation (see the module docstring).

    The pool is ``pool`` if given, else ``build_blocks(X, patterns, width,
    second_layer=second_layer_patterns, max_blocks=max_pool_blocks)`` (``patterns`` defaults to
    32 Gaussian gates). ``solve(blocks)`` returns a ``ThreeLayerFit`` over a block set (default:
    :func:`~convexnet.three_layer.train_three_layer` at ``tol``).

    With ``search`` (and a pool that is not complete), a round whose pool pricing finds no
    violator searches beyond the pool (:func:`search_blocks`: new first-layer patterns by the
    two-layer oracle, second-layer flips and pairs of the active blocks); the violators it
    finds join the pool and the working set. The run then stops only when neither finds one.
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
    rng = np.random.default_rng(_seed_int(random_state))
    searched = 0
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
        found = 0
        if search and priced.blocks.size == 0 and not pool.is_complete:
            pool, priced = search_blocks(
                X,
                lam,
                alpha,
                pool,
                working,
                fit,
                max_new=max_new,
                max_exact=max_exact,
                rtol=rtol,
                random_state=int(rng.integers(2**31)),
            )
            members = _members_of(pool)
            found = int(priced.blocks.size)
            searched += found
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
            "searched": found,
            "seconds": time.perf_counter() - t,
        }
        history.append(entry)
        if verbose:
            print(
                f"[grow3] round {rnd}: {working.size} blocks, objective {entry['objective']:.10g}, "
                f"gap {entry['relative_gap']:.1e}, +{priced.blocks.size} "
                f"({found} by search; {priced.n_exact} SOCPs, {priced.n_candidates} candidates)"
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
        searched=searched,
    )
