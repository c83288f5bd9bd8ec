"""Cross-validation of ``alpha`` over warm-started regularisation paths, fanned out with joblib.

Each fold's path is one joblib task, so the folds run in parallel with ``n_jobs`` and on a Dask
or Ray cluster by changing the joblib backend only::

    from dask.distributed import Client, LocalCluster
    import joblib
    with Client(LocalCluster()), joblib.parallel_backend("dask"):
        ConvexReLUCV(ConvexReLURegressor(gated=True), n_jobs=-1).fit(X, y)
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from convexnet._validation import check_positive, check_positive_int
from convexnet.estimators import ConvexReLUClassifier, ConvexReLURegressor

__all__ = ["ConvexReLUCV"]


def _fold_scores(estimator, X, y, train, test, alphas) -> np.ndarray:
    """Scores on ``test`` of the warm-started path fitted on ``train``."""
    fits = estimator.path(X[train], y[train], alphas)
    return np.array([fit.score(X[test], y[test]) for fit in fits])


class ConvexReLUCV(MetaEstimatorMixin, BaseEstimator):
    """Choose ``alpha`` of a convexnet estimator by K-fold cross-validation, then refit.

    For every fold, the estimator's regularisation path (:meth:`ConvexReLURegressor.path`,
    warm-started, one set of patterns) is fitted on the training part and scored with
    ``estimator.score`` (R^2 or accuracy) on the held-out part; the ``alpha`` with the best mean
    score is refitted on all the data.

    Losses are sums over samples (SPEC.md §0.4), so a fold with ``n_train`` of the ``n`` samples
    is fitted at ``alpha * n_train / n``: the same balance of loss and penalty per sample as the
    final fit at ``alpha``.

    Parameters
    ----------
    estimator : ConvexReLURegressor or ConvexReLUClassifier, default=None
        The model to tune (a default ``ConvexReLURegressor()`` if None).
    alphas : array-like or None, default=None
        Candidate values; None takes ``n_alphas`` from ``alpha_max`` down to ``eps * alpha_max``.
    n_alphas : int, default=8
    eps : float, default=1e-2
    cv : int, cross-validation generator or iterable, default=5
        As in scikit-learn (stratified folds for classifiers).
    n_jobs : int or None, default=None
        Folds fitted in parallel through joblib (any joblib backend, e.g. ``"dask"``).

    Attributes
    ----------
    alphas_ : ndarray
        The candidates, decreasing.
    cv_scores_ : ndarray of shape (n_folds, n_alphas)
    mean_scores_ : ndarray of shape (n_alphas,)
    alpha_ : float
        The chosen ``alpha``.
    best_estimator_ : estimator
        Refitted on all the data at ``alpha_``; ``predict`` and ``score`` use it.
    """

    def __init__(self, estimator=None, *, alphas=None, n_alphas=8, eps=1e-2, cv=5, n_jobs=None):
        self.estimator = estimator
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Cross-validate ``alpha`` on ``X``, ``y`` and refit the best on all of them."""
        estimator = ConvexReLURegressor() if self.estimator is None else self.estimator
        if not isinstance(estimator, ConvexReLURegressor | ConvexReLUClassifier):
            raise TypeError(
                "estimator must be a ConvexReLURegressor or ConvexReLUClassifier, "
                f"got {type(estimator).__name__}."
            )
        clone(estimator)._check_params()  # refuse bad parameters before any fold starts
        X = np.asarray(X) if not hasattr(X, "iloc") else X.to_numpy()
        y = np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy()
        if self.alphas is None:
            check_positive_int(self.n_alphas, "n_alphas")
            check_positive(self.eps, "eps")
            probe = clone(estimator)
            Xp, Yp, loss = probe._prepare(X, y)
            Xa = probe._augment(Xp)
            from convexnet.estimators import alpha_grid
            from convexnet.training import choose_patterns

            patterns = choose_patterns(Xa, probe.activation_patterns, probe.random_state)
            alphas = alpha_grid(Xa, Yp, loss, patterns.D, n_alphas=self.n_alphas, eps=self.eps)
        else:
            alphas = np.asarray(self.alphas, dtype=float).ravel()
            if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
                raise ValueError("alphas must be a non-empty sequence of positive finite numbers.")
        alphas = np.sort(alphas)[::-1]
        cv = check_cv(self.cv, y, classifier=is_classifier(estimator))
        folds = list(cv.split(X, y))
        n = len(y)
        scores = Parallel(n_jobs=self.n_jobs)(
            delayed(_fold_scores)(clone(estimator), X, y, train, test, alphas * len(train) / n)
            for train, test in folds
        )
        self.alphas_ = alphas
        self.cv_scores_ = np.vstack(scores)
        self.mean_scores_ = self.cv_scores_.mean(axis=0)
        self.alpha_ = float(alphas[int(np.argmax(self.mean_scores_))])
        self.best_estimator_ = clone(estimator).set_params(alpha=self.alpha_).fit(X, y)
        self.n_features_in_ = self.best_estimator_.n_features_in_
        if hasattr(self.best_estimator_, "classes_"):
            self.classes_ = self.best_estimator_.classes_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(ConvexReLURegressor() if self.estimator is None else self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.target_tags = inner.target_tags
        return tags

    def predict(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def score(self, X, y):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.score(X, y)
