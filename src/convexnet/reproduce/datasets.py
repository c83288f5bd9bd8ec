"""The real datasets of [001] (SPEC.md §5.3): loaders for local copies and for the network, with
scikit-learn's bundled sets as stand-ins when neither is there.

* UCI Acute Inflammations (Czerniak & Zarzycki 2003, cited by [001]): a local ``diagnosis.data``
  (UTF-16 or UTF-8, tab separated, decimal comma) or the UCI archive.
  Stand-in: ``load_breast_cancer`` (binary, medical).
* Fashion-MNIST (cited by [001]): local IDX files, or OpenML (``data_id=40996``).
  Stand-in: ``load_digits`` (8x8 images, 10 classes).

Build machines have no network (SPEC §5 data policy): :func:`load_real_dataset` says so in its
``message`` and returns the stand-in; nothing is downloaded unless ``online=True``.
"""

from __future__ import annotations

import gzip
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "REAL_DATASETS",
    "DatasetUnavailable",
    "LoadedDataset",
    "fetch_dataset",
    "load_acute_inflammations",
    "load_idx",
    "load_real_dataset",
]

UCI_ACUTE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/acute/diagnosis.data"
FASHION_MNIST_OPENML_ID = 40996

# name -> (description, bundled stand-in)
REAL_DATASETS = {
    "acute_inflammations": ("UCI Acute Inflammations (bladder inflammation)", "breast_cancer"),
    "fashion_mnist": ("Fashion-MNIST (OpenML 40996)", "digits"),
}


class DatasetUnavailable(RuntimeError):
    """The dataset could not be fetched (no network, timeout, server error)."""


@dataclass
class LoadedDataset:
    """Features ``X``, labels ``y``, where they came from and what happened (``message``)."""

    X: np.ndarray
    y: np.ndarray
    name: str
    source: str
    message: str
    stand_in: bool


def load_acute_inflammations(path) -> tuple[np.ndarray, np.ndarray]:
    """Parse UCI's ``diagnosis.data``: 6 attributes (temperature with a decimal comma, five
    yes/no), then the two decisions; returns ``X`` (n, 6) and ``y`` = bladder inflammation (0/1)."""
    raw = Path(path).read_bytes()
    text = None
    for enc in ("utf-16", "utf-8", "latin-1"):
        try:
            text = raw.decode(enc)
        except UnicodeError:
            continue
        if "no" in text or "yes" in text:
            break
    return _parse_acute(text or "")


def _parse_acute(text: str) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.replace("\ufeff", "").split()
        if not fields:
            continue
        if len(fields) != 8:
            raise ValueError(f"acute inflammations line {lineno}: {len(fields)} fields, not 8.")
        try:
            temp = float(fields[0].replace(",", "."))
        except ValueError as exc:
            raise ValueError(f"acute inflammations line {lineno}: bad temperature") from exc
        flags = [1.0 if f.lower() == "yes" else 0.0 for f in fields[1:]]
        rows.append([temp, *flags[:5]])
        labels.append(flags[5])
    if not rows:
        raise ValueError("acute inflammations file holds no rows.")
    return np.asarray(rows), np.asarray(labels)


def load_idx(path) -> np.ndarray:
    """Read an IDX file (MNIST/Fashion-MNIST format, optionally gzipped) into an array."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file.")
    dtypes = {8: ">u1", 9: ">i1", 11: ">i2", 12: ">i4", 13: ">f4", 14: ">f8"}
    if raw[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX type code {raw[2]}.")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=dtypes[raw[2]], offset=4 + 4 * ndim)
    return data.reshape(shape).astype(float)


def _default_fetch(name: str, timeout: float, data_home=None) -> tuple[np.ndarray, np.ndarray]:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        if name == "fashion_mnist":
            from sklearn.datasets import fetch_openml

            X, y = fetch_openml(
                data_id=FASHION_MNIST_OPENML_ID, return_X_y=True, as_frame=False,
                data_home=data_home,
            )  # fmt: skip
            return np.asarray(X, dtype=float), np.asarray(y).astype(int)
        from urllib.request import urlopen

        with urlopen(UCI_ACUTE_URL, timeout=timeout) as response:
            raw = response.read()
        for enc in ("utf-16", "utf-8"):
            try:
                return _parse_acute(raw.decode(enc))
            except (UnicodeError, ValueError):
                continue
        raise DatasetUnavailable("the UCI file could not be parsed")
    finally:
        socket.setdefaulttimeout(old)


_fetch: Callable = _default_fetch  # replaced in tests to simulate a missing network


def fetch_dataset(name: str, timeout: float = 10.0, data_home=None):
    """Download ``name`` (a key of :data:`REAL_DATASETS`); raises :class:`DatasetUnavailable`
    with the reason when there is no network or the server fails."""
    if name not in REAL_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(REAL_DATASETS)}.")
    try:
        return _fetch(name, timeout, data_home)
    except DatasetUnavailable:
        raise
    except Exception as exc:  # URLError, socket.timeout, HTTPError, OSError, ...
        raise DatasetUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return np.asarray(X, dtype=float), np.asarray(y)


def load_real_dataset(
    name: str,
    *,
    path=None,
    labels_path=None,
    online: bool = False,
    timeout: float = 10.0,
) -> LoadedDataset:
    """Load one of [001]'s real datasets, or its bundled stand-in with a clear message.

    Order: a local file (``path``; for Fashion-MNIST the IDX images with ``labels_path``), then
    the network if ``online``, then the stand-in of :data:`REAL_DATASETS`. ``message`` says which
    happened and why, e.g. ``"no network (URLError: ...): using the bundled stand-in
    load_breast_cancer"``.
    """
    if name not in REAL_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(REAL_DATASETS)}.")
    desc, standin = REAL_DATASETS[name]
    if path is not None:
        if name == "fashion_mnist":
            if labels_path is None:
                raise ValueError("fashion_mnist from local files needs labels_path too.")
            X = load_idx(path)
            X, y = X.reshape(len(X), -1), load_idx(labels_path).astype(int)
        else:
            X, y = load_acute_inflammations(path)
        return LoadedDataset(X, y, name, str(path), f"{desc}: read from {path}", False)
    if online:
        try:
            X, y = fetch_dataset(name, timeout)
            return LoadedDataset(X, y, name, "network", f"{desc}: downloaded", False)
        except DatasetUnavailable as exc:
            reason = f"no network ({exc})"
    else:
        reason = "offline run (no local file given and --online not set)"
    X, y = _bundled(standin)
    message = f"{desc} not loaded: {reason}: using the bundled stand-in load_{standin}"
    return LoadedDataset(X, y, standin, f"scikit-learn load_{standin}", message, True)
