"""ConvexDeepReLURegressor: the scikit-learn contract, to_torch, and the two-layer value."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from convexnet.estimators_deep_relu import ConvexDeepReLURegressor


@pytest.fixture(autouse=True)
def _single_blas_thread():
    with threadpool_limits(limits=1):
        yield


@parametrize_with_checks(
    [ConvexDeepReLURegressor(depth=3, max_iter=3, n_starts=4, oracle_steps=20)]
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_to_torch_and_fitted_attributes():
    import torch

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 2)), rng.normal(size=8)
    est = ConvexDeepReLURegressor(depth=4, alpha=0.3).fit(X, y)
    Xt = rng.normal(size=(5, 2))
    out = est.to_torch()(torch.as_tensor(Xt)).detach().numpy()[:, 0]
    np.testing.assert_allclose(out, est.predict(Xt), atol=1e-12)
    assert est.dual_bound_ <= est.objective_ * (1 + 1e-7)
    assert est.bound_label_.startswith("heuristic")
    resid = est.predict(X) - y
    assert est.objective_ == pytest.approx(
        0.5 * resid @ resid + 0.3 * est.result_.regularizer(), rel=1e-9
    )


def test_bad_parameters_name_the_argument():
    X, y = np.ones((4, 2)), np.ones(4)
    with pytest.raises(ValueError, match="depth"):
        ConvexDeepReLURegressor(depth=1).fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        ConvexDeepReLURegressor(alpha=0.0).fit(X, y)
    with pytest.raises(TypeError, match="fit_intercept"):
        ConvexDeepReLURegressor(fit_intercept="yes").fit(X, y)
