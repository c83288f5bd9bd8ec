"""Shared pieces of the reproductions: settings, instances, cached non-convex runs (SPEC.md §5)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "Settings",
    "data_with_sigma",
    "have_torch",
    "rank_one_training",
    "timed",
    "whitened",
]


@dataclass(frozen=True)
class Settings:
    """``quick`` picks the small variant of every experiment; ``seed`` seeds every random draw
    (instances are fixed by their own documented seeds, so that numbers match SPEC and docs)."""

    quick: bool = False
    seed: int = 0

    def pick(self, quick, full):
        """``quick`` in quick mode, else ``full``."""
        return quick if self.quick else full


@contextmanager
def timed(store: dict, key: str = "seconds"):
    """Store the wall-clock seconds of the block in ``store[key]``."""
    start = time.perf_counter()
    try:
        yield store
    finally:
        store[key] = time.perf_counter() - start


def have_torch() -> bool:
    """Whether the optional PyTorch dependency (non-convex baselines) is installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _orth(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(n, k)))[0]


def data_with_sigma(sigma, n: int = 5, d: int = 8, C: int = 3, seed: int = 0):
    """``X`` (n, d) of full row rank and ``Y = X Z`` with ``Z = X^+ Y`` of singular values
    ``sigma``: the instances of SPEC §2.4–§2.8 (the same generator as ``tests/test_deep_linear``,
    so the numbers agree with the tests and ``docs/deep_linear.md``). Returns ``X, Y, Z``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    R = np.linalg.qr(X.T)[0][:, : len(sigma)]  # orthonormal columns in range(X^T)
    Z = R @ np.diag(sigma) @ _orth(rng, C, len(sigma)).T
    return X, X @ Z, Z


def whitened(n: int, d: int, seed: int) -> np.ndarray:
    """An ``n x d`` matrix with ``X^T X = I`` (whitened data: closed forms are exact there)."""
    return _orth(np.random.default_rng(seed), n, d)


@lru_cache(maxsize=16)
def rank_one_training(gamma: tuple[float, float], depth: int, n_starts: int, seed: int):
    """Non-convex weight-decay training of the standard ReLU network on SPEC §4.2's rank-one
    instance (widths 4), cached: E002-5 and E000-4 share it. Returns the
    :class:`~convexnet.baselines.DeepNonConvexResult` and its wall-clock seconds."""
    from convexnet.baselines import train_deep_relu_nonconvex
    from convexnet.reproduce.gap_vs_depth import relu_instance

    X, y = relu_instance(gamma)
    start = time.perf_counter()
    res = train_deep_relu_nonconvex(X, y, [4] * (depth - 1), n_starts=n_starts, random_state=seed)
    return res, time.perf_counter() - start
