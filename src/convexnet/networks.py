"""Ordinary network weights: recovery from convex solutions, pruning, evaluation, torch export.

A two-layer network (SPEC.md §1.1) is ``f(X) = (X W1)_+ W2`` with ``W1`` (d x m) and ``W2``
(m x c); a gated network replaces the ReLU by fixed gates, ``f(X) = (1[X G >= 0] * (X W1)) W2``.
Its weight decay is ``(alpha / 2) (||W1||_F^2 + ||W2||_F^2)``.

A three-layer parallel network (SPEC.md §3.1) is ``f(X) = sum_k ((X W1_k)_+ w2_k)_+ w3_k`` with
the regularisers R1, R3 (exact) and WD (a baseline) of SPEC.md §3.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "TwoLayerNetwork",
    "ThreeLayerNetwork",
    "recover_two_layer",
    "caratheodory_prune",
    "two_layer_module",
    "three_layer_module",
]


@dataclass
class TwoLayerNetwork:
    """Weights of a two-layer ReLU (or gated ReLU) network without output bias.

    Attributes
    ----------
    W1 : (d, m) array
        First-layer weights, one neuron per column (a bias is a row of ones in ``X``).
    W2 : (m, c) array
        Second-layer weights.
    gates : (d, m) array or None
        Fixed gate vectors of a gated network; ``None`` for a ReLU network.
    """

    W1: np.ndarray
    W2: np.ndarray
    gates: np.ndarray | None = None

    @property
    def n_neurons(self) -> int:
        return self.W1.shape[1]

    def hidden(self, X: np.ndarray) -> np.ndarray:
        Z = X @ self.W1
        if self.gates is None:
            return np.maximum(Z, 0.0)
        return (X @ self.gates >= 0) * Z

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Network output, shape (n, c)."""
        return self.hidden(X) @ self.W2

    def penalty(self) -> float:
        """``(||W1||_F^2 + ||W2||_F^2) / 2``."""
        return 0.5 * float(np.sum(self.W1**2) + np.sum(self.W2**2))

    def objective(self, X: np.ndarray, Y: np.ndarray, loss, alpha: float) -> float:
        """``J = loss(f(X), Y) + (alpha / 2) (||W1||^2 + ||W2||^2)``."""
        Y2 = Y.reshape(X.shape[0], -1)
        return loss.value(self.predict(X), Y2) + alpha * self.penalty()


def caratheodory_prune(G: np.ndarray, costs: np.ndarray, max_atoms: int) -> np.ndarray:
    """Scale factors ``theta >= 0`` keeping ``G theta`` and ``costs^T theta`` with few atoms.

    ``G`` (n x K) holds the atoms' outputs, ``costs`` (K,) their costs. While more than
    ``max_atoms`` are active, a vector ``tau`` with ``G tau = 0`` and ``costs^T tau = 0`` moves
    the weights ``theta <- theta (1 + eps tau)`` until one vanishes (SPEC.md §1.6, §3.7); the
    output and the total cost stay the same and no weight turns negative.

    Each step works on ``n + 2`` of the active atoms only (``n + 1`` equations, so a null vector
    exists among them): an ``(n + 1) x (n + 2)`` SVD per removed atom instead of an
    ``(n + 1) x K`` one with a ``K x K`` factor, which took seconds for a few hundred atoms.
    """
    K = G.shape[1]
    theta = np.ones(K)
    active = np.flatnonzero(costs > 0)
    theta[costs <= 0] = 0.0
    width = G.shape[0] + 2
    while active.size > max_atoms:
        sub = active[:width]
        M = np.vstack([G[:, sub] * theta[sub], costs[sub] * theta[sub]])
        _, _, Vt = np.linalg.svd(M, full_matrices=True)
        tau = Vt[-1]
        if not np.any(tau < 0):
            tau = -tau
        neg = tau < 0
        eps = np.min(1.0 / -tau[neg])
        factor = 1.0 + eps * tau
        factor[np.argmin(np.where(neg, factor, np.inf))] = 0.0
        theta[sub] *= np.maximum(factor, 0.0)
        active = active[theta[active] > 0]
    return theta


def recover_two_layer(
    program,
    V: np.ndarray,
    W: np.ndarray | None,
    *,
    drop_tol: float = 1e-7,
    prune: bool = True,
) -> TwoLayerNetwork:
    """Network weights from a solution of a two-layer convex program ([PE20]; SPEC.md §1.6).

    Each non-zero ``V_ik`` gives a neuron ``w = V_ik / sqrt(||V_ik||)`` with output weight
    ``+sqrt(||V_ik||)`` on output ``k``; each ``W_ik`` the same with ``-sqrt(||W_ik||)``; for a
    gated program the neuron's gate is the pattern's generator. Then ``(X w)_+ a = D_i X V_ik`` on
    the cone and ``(||w||^2 + a^2) / 2 = ||V_ik||``, so the network's objective equals the
    program's. Variables with norm below ``drop_tol`` times the largest are dropped; with
    ``prune`` the atoms of each output are then reduced to at most ``n + 1`` (Caratheodory).
    """
    P, d, c = V.shape
    blocks = [(V, 1.0)] + ([] if W is None else [(W, -1.0)])
    scale = max(float(np.linalg.norm(B, axis=1).max(initial=0.0)) for B, _ in blocks)
    cols, outs, gates = [], [], []
    for k in range(c):
        atoms = []
        for B, sign in blocks:
            norms = np.linalg.norm(B[:, :, k], axis=1)
            for i in np.flatnonzero(norms > drop_tol * max(scale, 1e-300)):
                atoms.append((i, sign, B[i, :, k], norms[i]))
        if prune and len(atoms) > program.n_samples + 1:
            # The neurons' own outputs (not D_i X v), so pruning preserves the network exactly
            # even where the solver left the cones slightly violated.
            G = np.stack([s * _atom_output(program, i, v) for i, s, v, _ in atoms], axis=1)
            theta = caratheodory_prune(G, np.array([r for *_, r in atoms]), program.n_samples + 1)
            atoms = [(i, s, t * v, t * r) for (i, s, v, r), t in zip(atoms, theta) if t > 0]
        for i, sign, v, r in atoms:
            root = np.sqrt(r)
            cols.append(v / root)
            out = np.zeros(c)
            out[k] = sign * root
            outs.append(out)
            gates.append(program.generators[:, i])
    if cols:
        W1, W2 = np.stack(cols, axis=1), np.stack(outs, axis=0)
        G = np.stack(gates, axis=1)
    else:
        W1, W2, G = np.zeros((d, 0)), np.zeros((0, c)), np.zeros((d, 0))
    return TwoLayerNetwork(W1=W1, W2=W2, gates=G if program.gated else None)


def _atom_output(program, i: int, v: np.ndarray) -> np.ndarray:
    z = program.X @ v
    return program.D[:, i] * z if program.gated else np.maximum(z, 0.0)


def two_layer_module(
    W1: np.ndarray,
    b1: np.ndarray,
    W2: np.ndarray,
    gates: np.ndarray | None = None,
    gate_bias: np.ndarray | None = None,
):
    """A ``torch.nn.Module`` computing ``relu(x W1 + b1) W2`` (or its gated version).

    Returns float64 modules so that predictions match NumPy's to rounding.
    """
    import torch
    from torch import nn

    class GatedReLU(nn.Module):
        def __init__(self, gates, gate_bias):
            super().__init__()
            self.register_buffer("gates", torch.as_tensor(gates, dtype=torch.float64))
            self.register_buffer("gate_bias", torch.as_tensor(gate_bias, dtype=torch.float64))

        def forward(self, x, z):
            return (x @ self.gates + self.gate_bias >= 0).to(z.dtype) * z

    class TwoLayer(nn.Module):
        """Two-layer network exported from convexnet (float64)."""

        def __init__(self):
            super().__init__()
            d, m = W1.shape
            c = W2.shape[1]
            self.hidden = nn.Linear(d, m, dtype=torch.float64)
            self.output = nn.Linear(m, c, bias=False, dtype=torch.float64)
            with torch.no_grad():
                self.hidden.weight.copy_(torch.as_tensor(W1.T))
                self.hidden.bias.copy_(torch.as_tensor(b1))
                self.output.weight.copy_(torch.as_tensor(W2.T))
            self.gate = None if gates is None else GatedReLU(gates, gate_bias)

        def forward(self, x):
            x = x.to(torch.float64)
            z = self.hidden(x)
            h = torch.relu(z) if self.gate is None else self.gate(x, z)
            return self.output(h)

    return TwoLayer()


REGULARIZERS = ("R1", "R3", "WD")


@dataclass
class ThreeLayerNetwork:
    """Weights of a three-layer parallel ReLU network ([001]; SPEC.md §3.1).

    ``f(X) = sum_k ((X W1_k)_+ w2_k)_+ w3_k``, without biases (a bias is a ones column of ``X``).

    Attributes
    ----------
    W1 : (K, d, m1) array
        First-layer weights of each sub-network (columns are neurons; unused ones are zero).
    w2 : (K, m1) array
        Second-layer weights (one second-layer neuron per sub-network).
    w3 : (K, c) array
        Output weights (one non-zero entry per sub-network for decoupled outputs).
    """

    W1: np.ndarray
    w2: np.ndarray
    w3: np.ndarray

    @property
    def n_subnetworks(self) -> int:
        return int(self.W1.shape[0])

    @property
    def width(self) -> int:
        return int(self.W1.shape[2])

    def second_hidden(self, X: np.ndarray) -> np.ndarray:
        """``((X W1_k)_+ w2_k)_+`` for every sub-network, shape (n, K)."""
        H1 = np.maximum(np.einsum("nd,kdm->nkm", X, self.W1), 0.0)
        return np.maximum(np.einsum("nkm,km->nk", H1, self.w2), 0.0)

    def subnetwork_outputs(self, X: np.ndarray) -> np.ndarray:
        """Output of each sub-network, shape (n, K, c)."""
        return self.second_hidden(X)[:, :, None] * self.w3[None, :, :]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Network output, shape (n, c)."""
        return self.second_hidden(X) @ self.w3

    def layer_norms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``a_k = ||W1_k||_F``, ``b_k = ||w2_k||``, ``c_k = ||w3_k||`` (SPEC.md §3.2)."""
        a = np.sqrt(np.sum(self.W1**2, axis=(1, 2)))
        return a, np.linalg.norm(self.w2, axis=1), np.linalg.norm(self.w3, axis=1)

    def penalty(self, regularizer: str = "R1") -> float:
        """The regulariser without ``alpha`` (SPEC.md §3.2).

        ``"R1"``: ``sum_k (b_k^2 + c_k^2) / 2`` under the constraint ``a_k <= 1`` (``inf`` if a
        sub-network violates it by more than ``1e-9`` relative); ``"R3"``:
        ``sum_k (a_k^3 + b_k^3 + c_k^3) / 3``; ``"WD"``: ``sum_k (a_k^2 + b_k^2 + c_k^2) / 2``.
        """
        a, b, c = self.layer_norms()
        if regularizer == "R1":
            if a.size and a.max() > 1.0 + 1e-9:
                return np.inf
            return 0.5 * float(np.sum(b**2 + c**2))
        if regularizer == "R3":
            return float(np.sum(a**3 + b**3 + c**3)) / 3.0
        if regularizer == "WD":
            return 0.5 * float(np.sum(a**2 + b**2 + c**2))
        raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}.")

    def objective(
        self, X: np.ndarray, Y: np.ndarray, loss, alpha: float, regularizer: str = "R1"
    ) -> float:
        """``J = loss(f(X), Y) + alpha * penalty(regularizer)``."""
        Y2 = Y.reshape(X.shape[0], -1)
        return loss.value(self.predict(X), Y2) + alpha * self.penalty(regularizer)

    def rebalanced(self, regularizer: str = "R1") -> ThreeLayerNetwork:
        """The same function with each sub-network rescaled to minimise ``regularizer``.

        ``W1 <- p W1``, ``w2 <- q w2``, ``w3 <- r w3`` with ``p q r = 1`` keeps the output
        (positive homogeneity). R1: ``a = 1``, ``b = c = sqrt(a b c)``, so the penalty is
        ``sum_k a_k b_k c_k``. R3: ``a = b = c = (a b c)^(1/3)``, the same value (AM-GM).
        """
        if regularizer not in ("R1", "R3"):
            raise ValueError(f"regularizer must be 'R1' or 'R3', got {regularizer!r}.")
        a, b, c = self.layer_norms()
        prod = a * b * c
        live = prod > 0
        p, q, r = np.zeros_like(a), np.zeros_like(a), np.zeros_like(a)
        if regularizer == "R1":
            target_a, target_bc = np.ones_like(a), np.sqrt(prod)
        else:
            target_a = target_bc = np.cbrt(prod)
        p[live] = target_a[live] / a[live]
        q[live] = target_bc[live] / b[live]
        r[live] = target_bc[live] / c[live]
        return ThreeLayerNetwork(
            self.W1[live] * p[live, None, None],
            self.w2[live] * q[live, None],
            self.w3[live] * r[live, None],
        )

    def subset(self, keep) -> ThreeLayerNetwork:
        return ThreeLayerNetwork(self.W1[keep], self.w2[keep], self.w3[keep])


def three_layer_module(W1: np.ndarray, b1: np.ndarray, w2: np.ndarray, w3: np.ndarray):
    """A ``torch.nn.Module`` (float64) computing ``sum_k relu(relu(x W1_k + b1_k) w2_k) w3_k``.

    ``W1`` (K, d, m1), ``b1`` (K, m1), ``w2`` (K, m1), ``w3`` (K, c). The sub-networks are
    evaluated in parallel as one grouped layer.
    """
    import torch
    from torch import nn

    class ThreeLayer(nn.Module):
        """Three-layer parallel ReLU network exported from convexnet (float64)."""

        def __init__(self):
            super().__init__()
            f64 = torch.float64
            self.W1 = nn.Parameter(torch.as_tensor(np.asarray(W1, dtype=float), dtype=f64))
            self.b1 = nn.Parameter(torch.as_tensor(np.asarray(b1, dtype=float), dtype=f64))
            self.w2 = nn.Parameter(torch.as_tensor(np.asarray(w2, dtype=float), dtype=f64))
            self.w3 = nn.Parameter(torch.as_tensor(np.asarray(w3, dtype=float), dtype=f64))

        def forward(self, x):
            x = x.to(torch.float64)
            h1 = torch.relu(torch.einsum("nd,kdm->nkm", x, self.W1) + self.b1)
            h2 = torch.relu(torch.einsum("nkm,km->nk", h1, self.w2))
            return h2 @ self.w3

    return ThreeLayer()
