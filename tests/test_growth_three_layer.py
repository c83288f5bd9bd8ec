"""Column generation over the three-layer program's blocks (convexnet.growth_three_layer).

Tiny data (n = 7, one feature plus a bias column, width 2), where every first-layer pattern and
every second-layer pattern is enumerated, so the pool is the complete block set and its optimum
is the global optimum over networks of width 2 (SPEC.md §3.3-3.5).
"""

import cvxpy as cp
import numpy as np
import pytest

from convexnet.estimators_three_layer import ConvexThreeLayerRegressor
from convexnet.growth_three_layer import (
    block_growth_scope_note,
    block_upper_bounds,
    block_value,
    grow_blocks,
    price_blocks,
)
from convexnet.losses import LogisticLoss, SquaredLoss
from convexnet.patterns import enumerate_patterns
from convexnet.programs.three_layer import build_blocks
from convexnet.three_layer import train_three_layer

ALPHA = 0.05
TOL = 1e-7  # relative gap of every solve


def _data(seed=0, n=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return np.c_[x, np.ones(n)], rng.normal(size=n)


@pytest.fixture(scope="module")
def case():
    X, y = _data()
    pool = build_blocks(X, enumerate_patterns(X), 2, second_layer="enumerate")
    assert pool.is_complete
    full = train_three_layer(X, y, SquaredLoss(), ALPHA, blocks=pool, tol=TOL)
    grown = grow_blocks(X, y, SquaredLoss(), ALPHA, pool=pool, initial_blocks=3, max_new=2, tol=TOL)
    return X, y, pool, full, grown


def _primal_rho(X, blocks, b, lam):
    """``rho_b(lam)`` from the primal SOCP of SPEC.md §3.5 (independent of block_kappa)."""
    idx = np.flatnonzero(blocks.member_block == b)
    D2 = blocks.D2[:, b].astype(float)
    best = -np.inf
    for sigma in (1.0, -1.0):
        vs = [cp.Variable(X.shape[1]) for _ in idx]
        h = 0
        cons = []
        for v, a in zip(vs, idx):
            D1 = blocks.D1[:, blocks.member_pattern[a]].astype(float)
            cons.append(blocks.member_sign[a] * cp.multiply(2 * D1 - 1, X @ v) >= 0)
            h = h + cp.multiply(D1, X @ v)
        cons.append(cp.multiply(2 * D2 - 1, h) >= 0)
        cons.append(sum(cp.norm(v) for v in vs) <= 1)
        prob = cp.Problem(cp.Maximize(sigma * (lam * D2) @ h), cons)
        prob.solve(solver="CLARABEL")
        best = max(best, prob.value)
    return best


def test_grown_blocks_reach_the_complete_optimum(case):
    X, y, pool, full, grown = case
    assert grown.reason == "no violating block found" and grown.converged
    assert grown.blocks.n_blocks < pool.n_blocks
    assert abs(grown.fit.objective - full.objective) <= 1e-5 * full.objective
    # certified over the (complete) pool: the global bound for width 2
    cert = grown.fit.certificate
    assert cert.relative_gap <= 1e-5
    assert "width <= 2" in cert.scope


def test_objective_history_never_increases(case):
    *_, grown = case
    objectives = [h["objective"] for h in grown.history]
    assert len(objectives) >= 2
    assert all(b <= a * (1 + 2 * TOL) for a, b in zip(objectives, objectives[1:]))
    assert grown.history[-1]["added"] == []


def test_reported_violators_are_real_and_new(case):
    X, y, pool, _, grown = case
    working = grown.history[0]["blocks"]
    first = np.sort(np.argsort(-block_upper_bounds(X, pool, y))[:working])
    fit = train_three_layer(X, y, SquaredLoss(), ALPHA, blocks=pool.subset(first), tol=TOL)
    lam = y - fit.network.predict(X)[:, 0]
    priced = price_blocks(X, lam, ALPHA, pool, first, max_new=4)
    assert priced.blocks.size > 0
    assert not np.isin(priced.blocks, first).any()
    assert np.all(np.diff(priced.values) <= 0)
    for b, value in zip(priced.blocks, priced.values):
        rho = _primal_rho(X, pool, int(b), lam)
        assert rho > ALPHA * (1 + 1e-5)
        assert value == pytest.approx(rho, rel=1e-5)
    # the blocks each round reported were outside the working set of that round
    seen = set(np.argsort(-block_upper_bounds(X, pool, y))[: grown.history[0]["blocks"]])
    for h in grown.history:
        assert not seen & set(h["added"])
        assert all(v > ALPHA for v in h["added_values"])
        seen |= set(h["added"])


def test_no_violator_at_the_complete_optimum(case):
    X, y, pool, full, _ = case
    lam = y - full.network.predict(X)[:, 0]
    priced = price_blocks(X, lam, ALPHA, pool, np.zeros(0, dtype=int))
    assert priced.blocks.size == 0
    assert priced.unresolved == 0
    # spot-check: the largest cheap bound's block is dual feasible by the SOCP too
    b = int(np.argmax(block_upper_bounds(X, pool, lam)))
    assert block_value(X, pool, b, lam) <= ALPHA * (1 + 1e-5)


def test_logistic_growth_reaches_the_complete_optimum():
    X, y = _data(seed=1, n=6)
    y = np.where(y > 0, 1.0, -1.0)
    pool = build_blocks(X, enumerate_patterns(X), 2, second_layer="enumerate")
    full = train_three_layer(X, y, LogisticLoss(), ALPHA, blocks=pool, tol=TOL)
    grown = grow_blocks(X, y, LogisticLoss(), ALPHA, pool=pool, initial_blocks=2, tol=TOL)
    assert grown.converged
    assert abs(grown.fit.objective - full.objective) <= 1e-5 * full.objective


def test_max_rounds_is_reported(case):
    X, y, pool, *_ = case
    grown = grow_blocks(X, y, SquaredLoss(), ALPHA, pool=pool, initial_blocks=1, max_rounds=1)
    assert grown.reason == "max_rounds reached" and not grown.converged
    assert grown.blocks.n_blocks == 1 and grown.rounds == 1


def test_estimator_grow():
    X, y = _data(n=6)
    x = X[:, :1]
    grown = ConvexThreeLayerRegressor(
        alpha=ALPHA,
        activation_patterns="grow",
        second_layer_patterns="enumerate",
        max_blocks=None,
        tol=1e-7,
        random_state=0,
    ).fit(x, y)
    full = ConvexThreeLayerRegressor(
        alpha=ALPHA,
        activation_patterns="enumerate",
        second_layer_patterns="enumerate",
        max_blocks=None,
        tol=1e-7,
    ).fit(x, y)
    assert grown.growth_["reason"] == "no violating block found"
    assert grown.growth_["pool_complete"] and grown.patterns_complete_
    assert grown.n_blocks_ < full.n_blocks_
    assert "certified over the complete pool" in grown.certificate_.scope
    assert grown.objective_ == pytest.approx(full.objective_, rel=1e-5)
    assert grown.relative_duality_gap_ <= 1e-5
    # "auto" does not grow
    auto = ConvexThreeLayerRegressor(alpha=ALPHA, tol=1e-4, random_state=0).fit(x, y)
    assert auto.growth_ is None


def test_search_beyond_a_sampled_pool_finds_real_violators():
    """From a pool of 3 sampled first-layer patterns, the search beyond the pool (new
    patterns, second-layer flips, ascent of a sub-network's dual value) lowers the objective
    towards the complete block set's optimum and never below it; every block it adds violates
    the dual constraint at its round's dual point by the independent primal SOCP."""
    from convexnet.patterns import sample_patterns

    X, y = _data(seed=2)
    complete = build_blocks(X, enumerate_patterns(X), 2, second_layer="enumerate")
    best = train_three_layer(X, y, SquaredLoss(), ALPHA, blocks=complete, tol=TOL).objective
    small = build_blocks(
        X, sample_patterns(X, 3, random_state=2), 2, second_layer=2, random_state=2
    )
    fixed = grow_blocks(X, y, SquaredLoss(), ALPHA, pool=small, search=False, tol=TOL)
    rounds = []

    def solve(blocks):
        fit = train_three_layer(X, y, SquaredLoss(), ALPHA, blocks=blocks, tol=TOL)
        rounds.append(y - fit.network.predict(X)[:, 0])
        return fit

    grown = grow_blocks(
        X, y, SquaredLoss(), ALPHA, pool=small, search=True, tol=TOL, random_state=0, solve=solve
    )
    assert grown.converged and grown.searched > 0
    assert grown.pool.n_blocks == small.n_blocks + grown.searched
    assert not grown.pool.is_complete
    assert grown.fit.objective >= best * (1 - 1e-6)  # a width-2 network: never below
    assert grown.fit.objective < fixed.fit.objective * (1 - 0.1)  # the fixed pool is 70% above
    assert grown.fit.objective <= best * (1 + 1e-2)
    for h, lam in zip(grown.history, rounds):
        if h["searched"]:
            for b, value in zip(h["added"], h["added_values"]):
                assert b >= small.n_blocks  # beyond the first pool
                assert _primal_rho(X, grown.pool, b, lam) > ALPHA * (1 + 1e-5)
                assert value == pytest.approx(_primal_rho(X, grown.pool, b, lam), rel=1e-5)
    assert grown.summary()["searched_blocks"] == grown.searched
    assert "found by the search beyond the first pool" in block_growth_scope_note(grown)
