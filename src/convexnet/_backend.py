"""Array backends: one implementation of each solver runs on NumPy arrays and PyTorch tensors.

Solvers write their array code against the namespace that ``array_api_compat`` returns for their
inputs (the Array API standard, as scikit-learn and SciPy do), so the same lines run on NumPy, on
PyTorch CPU tensors and on CUDA tensors. Data enter through :func:`to_backend` and results leave
through :func:`to_numpy`.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, is_torch_array

__all__ = ["array_namespace", "to_backend", "to_numpy", "resolve_device", "resolve_dtype"]

_DTYPES = ("float64", "float32")


def resolve_dtype(dtype) -> str:
    """``"float64"`` or ``"float32"`` from a string or a NumPy/PyTorch dtype."""
    name = str(dtype).replace("torch.", "")
    if name not in _DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}.")
    return name


def resolve_device(device) -> str | None:
    """``None`` (NumPy) or a PyTorch device string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``.

    Raises ``ValueError`` naming ``device`` when PyTorch is missing or the device is unavailable.
    """
    if device is None or (isinstance(device, str) and device.lower() == "numpy"):
        return None
    if not isinstance(device, str):
        device = str(device)
    try:
        import torch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ValueError(
            f"device={device!r} needs PyTorch (pip install torch); use device=None for NumPy."
        ) from err
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be None, 'cpu' or 'cuda[:k]', got {device!r}.") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for CUDA, which is not available here.")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be None, 'cpu' or 'cuda[:k]', got {device!r}.")
    return str(dev)


def to_backend(array, device: str | None, dtype: str):
    """``array`` as a NumPy array (``device=None``) or a PyTorch tensor on ``device``."""
    if device is None:
        return np.asarray(to_numpy(array), dtype=dtype)
    import torch

    tdtype = getattr(torch, dtype)
    if is_torch_array(array):
        return array.to(device=device, dtype=tdtype)
    return torch.as_tensor(np.asarray(array), dtype=tdtype, device=device)


def to_numpy(array) -> np.ndarray:
    """A NumPy copy of a NumPy array or a PyTorch tensor (on any device)."""
    if is_torch_array(array):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def scalar(value) -> float:
    """A Python float from a 0-d array or tensor."""
    return float(value.item()) if hasattr(value, "item") else float(value)
