"""The proven pattern-free bound on kappa (convexnet.relaxation): validity and tightness."""

import numpy as np
import pytest

from convexnet.certificates import certify_two_layer, coarse_kappa, gated_kappa, relu_kappa
from convexnet.losses import SquaredLoss
from convexnet.patterns import enumerate_patterns
from convexnet.relaxation import KappaBound, _one_sign, kappa_lower_bound, kappa_upper_bound


def _data(seed, n, d):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d), 0) - 0.5 * np.maximum(X @ rng.standard_normal(d), 0)
    return X, y + 0.2 * rng.standard_normal(n), rng


def _fitted_residual(X, y, alpha, seed):
    """The residual of a small non-convex fit: the dual point a certificate would check."""
    from convexnet.baselines import train_two_layer_nonconvex

    fit = train_two_layer_nonconvex(
        X, y, width=4, alpha=alpha, n_starts=1, max_iter=200, random_state=seed
    )
    return y - fit.best.predict(X).ravel()


def _cases():
    """(X, lam (n, c), D complete) on enumerable data: random, shifted, residual lam."""
    pytest.importorskip("torch")
    out = []
    for seed in range(8):
        d = 2 + seed % 2
        n = 12 + 3 * seed
        X, y, rng = _data(seed, n, d)
        cols = [
            rng.standard_normal(n),
            rng.standard_normal(n) + 0.7,
            -np.abs(rng.standard_normal(n)) + 0.3,
            y,
            _fitted_residual(X, y, 0.3, seed),
        ]
        out.append((X, np.column_stack(cols), enumerate_patterns(X).D))
    return out


@pytest.fixture(scope="module")
def cases():
    return _cases()


def test_bound_is_never_below_the_true_kappa(cases):
    """(a) value >= kappa by full enumeration, every column; (d) never looser than coarse."""
    ratios = []
    for X, lam, D in cases:
        true = relu_kappa(X, D, lam)
        kb = kappa_upper_bound(X, lam)
        assert isinstance(kb, KappaBound) and kb.value.shape == (lam.shape[1],)
        scale = np.abs(lam).sum(0) * np.linalg.norm(X, axis=1).max()
        assert np.all(kb.value >= true - 1e-9 * scale), (kb.value, true)
        assert np.all(kb.lower <= true + 1e-9 * scale)
        assert np.all(kb.value <= coarse_kappa(X, lam) * (1 + 1e-12))
        for k in range(lam.shape[1]):  # each sign: kappa(-lam) = kappa(lam)
            assert kappa_upper_bound(X, -lam[:, k]).value[0] >= true[k] - 1e-9 * scale[k]
        ratios.extend(kb.value / np.maximum(true, 1e-300))
    ratios = np.array(ratios)
    print(
        f"\nbound / kappa over {ratios.size} columns: median {np.median(ratios):.3f}, "
        f"max {ratios.max():.3f}"
    )
    assert np.median(ratios) < 1.5  # tightness regression guard (measured about 1.2)


def test_gated_bound_covers_every_gate(cases):
    """Gated: value >= max over all arrangement patterns (= all gates) of ||X^T D lam||."""
    for X, lam, D in cases:
        true = gated_kappa(X, D, lam)
        kb = kappa_upper_bound(X, lam, gated=True)
        scale = np.abs(lam).sum(0) * np.linalg.norm(X, axis=1).max()
        assert np.all(kb.value >= true - 1e-9 * scale)
        assert np.all(kb.value <= np.abs(lam).T @ np.linalg.norm(X, axis=1) * (1 + 1e-12))
    # The one-sign coarse formula is not a gated bound: one gate can collect both signs.
    X, lam = np.eye(2), np.array([1.0, -1.0])
    D = enumerate_patterns(X).D
    assert gated_kappa(X, D, lam)[0] == pytest.approx(np.sqrt(2))
    assert coarse_kappa(X, lam)[0] < np.sqrt(2) <= kappa_upper_bound(X, lam, gated=True).value[0]


def _shor_sdp(X, lam):
    """Shor SDP of ``kappa_+(lam)``: positive rows lifted, negative rows exact (reference)."""
    cp = pytest.importorskip("cvxpy")
    d = X.shape[1]
    P, N = lam > 0, lam < 0
    Xp, Xn, p = X[P], X[N], int(P.sum())
    Y = cp.Variable((1 + d + p, 1 + d + p), PSD=True)
    u, z = Y[0, 1 : 1 + d], Y[0, 1 + d :]
    U, W, Z = Y[1 : 1 + d, 1 : 1 + d], Y[1 + d :, 1 : 1 + d], Y[1 + d :, 1 + d :]
    s = cp.Variable(int(N.sum()))
    cons = [Y[0, 0] == 1, cp.trace(U) <= 1, z >= 0, s >= 0, s >= Xn @ u]
    cons.append(cp.diag(Z) <= cp.sum(cp.multiply(W, Xp), axis=1))
    prob = cp.Problem(cp.Maximize(lam[P] @ z + lam[N] @ s), cons)
    prob.solve(solver="CLARABEL")
    return prob.value


def test_close_to_the_shor_sdp():
    """The verified Lagrangian value is (up to solver accuracy) at least the SDP optimum, and
    close to it: the looseness is the relaxation's, not the parameter search's."""
    rng = np.random.default_rng(1)
    for n, d in ((23, 2), (27, 2)):
        X, lam = rng.standard_normal((n, d)), rng.standard_normal(n)
        for sgn in (1.0, -1.0):
            sdp = _shor_sdp(X, sgn * lam)
            val = _one_sign(X, sgn * lam, False, np.inf)[2]["lagrangian"]  # kappa_+ only
            assert sdp * (1 - 1e-6) - 1e-8 <= val <= 1.1 * sdp


def test_rescaled_dual_point_is_feasible(cases):
    """(b) lam * alpha / value satisfies the true (enumerated) constraint."""
    for X, lam, D in cases:
        kb = kappa_upper_bound(X, lam)
        for alpha in (0.1, 1.0):
            lam_bar = lam * (alpha / kb.value)
            assert np.all(relu_kappa(X, D, lam_bar) <= alpha * (1 + 1e-9))


def test_closed_form_fallback_is_valid(cases):
    X, lam, D = cases[3]
    kb = kappa_upper_bound(X, lam, max_size=1)
    assert kb.details["closed_form_only"] and kb.method in ("split", "coarse", "coarse+split")
    assert np.all(kb.value >= relu_kappa(X, D, lam) * (1 - 1e-12))
    assert np.all(kb.value >= kappa_upper_bound(X, lam).value * (1 - 1e-12))


def test_lower_bound_by_ascent_is_below_kappa(cases):
    X, lam, D = cases[2]
    for k in range(lam.shape[1]):
        low = kappa_lower_bound(X, lam[:, k], n_starts=3)
        assert low <= relu_kappa(X, D, lam[:, k])[0] * (1 + 1e-9)


def test_proven_dual_is_never_beaten_by_nonconvex_training():
    """(c) the proven bound from sampled patterns stays below every trained network."""
    pytest.importorskip("torch")
    from convexnet import ConvexReLURegressor, train_two_layer_nonconvex

    X, y, _ = _data(11, 20, 3)
    alpha = 0.3
    model = ConvexReLURegressor(
        alpha=alpha, activation_patterns=3, fit_intercept=False, random_state=0
    ).fit(X, y)
    cert = model.certificate_
    assert not cert.is_global and cert.proven_dual is not None
    assert model.proven_dual_objective_ == cert.proven_dual
    assert cert.proven_gap == pytest.approx(cert.primal - cert.proven_dual)
    assert cert.global_dual <= cert.proven_dual + 1e-12
    best = ConvexReLURegressor(
        alpha=alpha, activation_patterns="enumerate", fit_intercept=False
    ).fit(X, y)
    assert cert.proven_dual <= best.objective_ + 1e-9 * abs(best.objective_)
    assert best.certificate_.proven_dual == best.dual_objective_
    for width in (2, 8):
        fits = train_two_layer_nonconvex(
            X, y, width=width, alpha=alpha, n_starts=4, max_iter=500, random_state=width
        )
        assert np.all(fits.objectives >= cert.proven_dual - 1e-9 * abs(cert.proven_dual))
    print(
        f"\ngap over 3 patterns {cert.relative_gap:.3g}, proven gap {cert.proven_relative_gap:.3g}"
    )


def test_certify_two_layer_proven_fields():
    X, y, rng = _data(5, 25, 3)
    D = enumerate_patterns(X).D
    pred = 0.5 * y
    J = SquaredLoss().value(pred, y) + 1.0
    off = certify_two_layer(X, y, D[:, :4], SquaredLoss(), 1.0, pred, J)
    assert off.proven_dual is None and off.proven_kappa is None
    on = certify_two_layer(X, y, D[:, :4], SquaredLoss(), 1.0, pred, J, proven=True)
    assert on.dual == off.dual and on.gap == off.gap  # over the patterns used: unchanged
    assert on.proven_kappa >= relu_kappa(X, D, y - pred)[0] * (1 - 1e-12)
    assert on.proven_dual <= on.dual + 1e-12
    assert on.global_dual >= off.global_dual - 1e-12
    assert "proven bound" in on.summary()
    full = certify_two_layer(X, y, D, SquaredLoss(), 1.0, pred, J, complete=True, proven=True)
    assert full.proven_dual == full.dual and full.proven_method.startswith("exact")


@pytest.mark.parametrize(
    ("X", "lam", "name"),
    [
        (np.ones((4, 2)), np.array([1.0, np.nan, 0.0, 1.0]), "lam"),
        (np.ones((4, 2)), np.ones(3), "lam"),
        (np.ones((4, 2)), np.ones((4, 2, 1)), "lam"),
        (np.ones(4), np.ones(4), "X"),
        (np.array([[1.0, np.inf]] * 4), np.ones(4), "X"),
    ],
)
def test_bad_input_names_the_argument(X, lam, name):
    with pytest.raises(ValueError, match=name):
        kappa_upper_bound(X, lam)
