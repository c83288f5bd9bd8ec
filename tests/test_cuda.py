"""The first-order solvers on a CUDA device (issue 3, item 5): skipped where CUDA is absent.

CI has no GPU, so these run by hand on a CUDA machine (docs/solvers.md says when they last ran).
Each CUDA solve is checked against the NumPy solve of the same program: both certified, the same
objective, and each one's dual bound below the other's primal (weak duality across backends).
"""

import os

import numpy as np
import pytest

from convexnet import ConvexReLUClassifier, ConvexReLURegressor
from convexnet.estimators import alpha_grid
from convexnet.losses import get_loss
from convexnet.patterns import sample_patterns
from convexnet.programs.two_layer import TwoLayerProgram
from convexnet.solvers.first_order import solve_two_layer_first_order

torch = pytest.importorskip("torch")
# CONVEXNET_TEST_DEVICE=cpu runs the same checks on PyTorch's CPU backend (to test the tests).
DEVICE = os.environ.get("CONVEXNET_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(
    DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs a CUDA device"
)


def _program(task, gated, n=400, d=6, P=40, seed=0, frac=0.3):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    h = np.maximum(X @ rng.standard_normal((d + 1, 4)), 0) @ rng.standard_normal(4)
    if task == "regression":
        Y, loss = (h + 0.1 * rng.standard_normal(n))[:, None], "squared"
    elif task == "logistic":
        Y, loss = np.sign(h - np.median(h))[:, None], "logistic"
    else:
        labels = np.digitize(h, np.quantile(h, [1 / 3, 2 / 3]))
        Y, loss = np.eye(3)[labels], "cross_entropy"
    pat = sample_patterns(X, P, random_state=seed)
    alpha = frac * alpha_grid(X, Y, get_loss(loss), pat.D, n_alphas=1)[0]
    return TwoLayerProgram(X, Y, pat.D, pat.generators, get_loss(loss), alpha, gated=gated)


@pytest.mark.parametrize(
    "task, gated",
    [
        ("regression", True),
        ("logistic", True),
        ("cross_entropy", True),
        ("regression", False),
        ("logistic", False),
    ],
)
def test_cuda_float64_matches_numpy(task, gated):
    program = _program(task, gated)
    tol = 1e-7
    a = solve_two_layer_first_order(program, tol=tol, max_iter=20_000)
    b = solve_two_layer_first_order(program, tol=tol, max_iter=20_000, device=DEVICE)
    assert b.info["device"] == DEVICE
    for sol in (a, b):
        assert sol.status == "optimal" and sol.info["relative_gap"] <= tol, sol.info
    assert b.info["primal"] == pytest.approx(a.info["primal"], rel=2 * tol)
    assert b.info["dual"] <= a.info["primal"] * (1 + 1e-9)
    assert a.info["dual"] <= b.info["primal"] * (1 + 1e-9)
    assert isinstance(b.V, np.ndarray)  # results come back to the host as NumPy
    if not gated:
        assert b.info["violation"] <= 1e-12


@pytest.mark.parametrize("gated", [True, False])
def test_cuda_float32_reaches_its_tolerance(gated):
    program = _program("regression", gated)
    ref = solve_two_layer_first_order(program, tol=1e-8, max_iter=20_000)
    f32 = solve_two_layer_first_order(
        program, tol=1e-4, max_iter=20_000, device=DEVICE, dtype="float32"
    )
    assert f32.info["dtype"] == "float32"
    assert f32.status == "optimal" and f32.info["relative_gap"] <= 1e-4, f32.info
    # The certificate is computed in float64: the float32 solution is within its gap.
    assert ref.info["primal"] <= f32.info["primal"] * (1 + 1e-9)
    assert f32.info["primal"] <= ref.info["primal"] * (1 + 2e-4)


def test_estimators_fit_on_cuda_and_agree_with_numpy():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 5))
    y = np.maximum(X @ rng.standard_normal(5), 0) + 0.1 * rng.standard_normal(300)
    kw = dict(alpha=0.05, activation_patterns=60, random_state=0, tol=1e-7)
    for solver in ("fista", "auglag"):
        gated = solver == "fista"
        cpu = ConvexReLURegressor(solver=solver, gated=gated, **kw).fit(X, y)
        gpu = ConvexReLURegressor(solver=solver, gated=gated, device=DEVICE, **kw).fit(X, y)
        assert gpu.objective_ == pytest.approx(cpu.objective_, rel=1e-6)
        assert gpu.dual_objective_ <= cpu.objective_ * (1 + 1e-9)
        assert np.allclose(gpu.predict(X), cpu.predict(X), atol=1e-3 * np.std(y))
    labels = (y > np.median(y)).astype(int)
    clf = ConvexReLUClassifier(solver="fista", gated=True, device=DEVICE, **kw).fit(X, labels)
    ref = ConvexReLUClassifier(solver="fista", gated=True, **kw).fit(X, labels)
    assert clf.objective_ == pytest.approx(ref.objective_, rel=1e-6)
    assert np.mean(clf.predict(X) == ref.predict(X)) >= 0.99


def test_growth_on_cuda_certifies_like_numpy():
    # Exact ReLU, whose optimum here is sparse (8 neurons): column generation ends with "no
    # violating pattern found" in four rounds on either backend. A gated program with a small
    # alpha is a poor test of the backend: its optimum spreads over 50-100 patterns, growth
    # stops at max_rounds, and which of the near-tied violators each round adds depends on
    # roundoff, so two backends' early-stopped objectives differ (0.7% at alpha = 0.05 on this
    # data, the first GPU run).
    rng = np.random.default_rng(4)
    X = rng.standard_normal((150, 3))
    y = np.maximum(X @ rng.standard_normal(3), 0) + 0.1 * rng.standard_normal(150)
    kw = dict(alpha=0.5, activation_patterns="auto", random_state=0, solver="auglag")
    cpu = ConvexReLURegressor(**kw).fit(X, y)
    gpu = ConvexReLURegressor(device=DEVICE, **kw).fit(X, y)
    for est in (cpu, gpu):
        assert est.growth_["reason"] == "no violating pattern found"
        assert est.relative_duality_gap_ <= 1e-6
    assert gpu.certificate_kind_ == cpu.certificate_kind_
    assert gpu.objective_ == pytest.approx(cpu.objective_, rel=1e-6)
    # The proven dual bound of either fit is below both objectives.
    for est in (cpu, gpu):
        assert est.proven_dual_objective_ <= min(cpu.objective_, gpu.objective_) * (1 + 1e-9)
