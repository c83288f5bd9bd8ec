"""Input checks shared by every entry point.

Every check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad
value) with a message that names the offending argument, so a user never sees a traceback
from deep inside NumPy.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
from sklearn.utils import check_array

__all__ = [
    "as_matrix",
    "as_targets",
    "check_bool",
    "check_choice",
    "check_nonnegative",
    "check_positive_int",
    "check_positive",
    "physical_memory",
]


def as_matrix(X, name: str = "X", *, min_samples: int = 1, dtype=np.float64) -> np.ndarray:
    """Return ``X`` as a finite 2-D float array, or raise an error naming ``name``."""
    if isinstance(X, str | bytes):
        raise TypeError(f"{name} must be a numeric 2-D array, got a string.")
    try:
        arr = check_array(
            X,
            dtype=dtype,
            ensure_2d=True,
            ensure_all_finite=True,
            ensure_min_samples=min_samples,
            input_name=name,
        )
    except ValueError as exc:
        msg = str(exc)
        if "NaN" in msg or "infinity" in msg:
            raise ValueError(msg if name in msg else f"{name}: {msg}") from exc
        if "could not convert" in msg or "Unable to convert" in msg or "dtype" in msg:
            raise TypeError(f"{name} must contain numbers only: {msg}") from exc
        if name not in msg:
            msg = f"{name}: {msg}"
        raise ValueError(msg) from exc
    except TypeError as exc:
        raise TypeError(f"{name} must be a numeric 2-D array: {exc}") from exc
    return arr


def as_targets(Y, n_samples: int, name: str = "y") -> np.ndarray:
    """Return targets as a finite float array of shape (n,) or (n, c)."""
    if isinstance(Y, str | bytes):
        raise TypeError(f"{name} must be a numeric array, got a string.")
    try:
        arr = np.asarray(Y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must contain numbers only: {exc}") from exc
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got an array with {arr.ndim} dimensions.")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} rows but X has {n_samples} samples; they must match."
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return arr


def _check_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    return value


def check_nonnegative(value, name: str) -> float:
    """A finite real number ``>= 0``."""
    value = _check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}.")
    return value


def check_positive(value, name: str) -> float:
    """A finite real number ``> 0``."""
    value = _check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}.")
    return value


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def check_choice(value, name: str, choices) -> str:
    """One of a fixed set of strings."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {sorted(choices)}, got {value!r}.")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}.")
    return value


def check_bool(value, name: str) -> bool:
    """A boolean (NumPy booleans accepted); anything else is a ``TypeError`` naming ``name``."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}.")
    return bool(value)


def physical_memory() -> int | None:
    """Bytes of physical memory on this machine, or ``None`` where the OS does not say.

    The memory refusals (pattern enumeration, conic programs) size themselves against it.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return int(total) if total > 0 else None
