"""Ordinary network weights: recovery from convex solutions, pruning, evaluation, torch export.

A two-layer network (SPEC.md §1.1) is ``f(X) = (X W1)_+ W2`` with ``W1`` (d x m) and ``W2``
(m x c); a gated network replaces the ReLU by fixed gates, ``f(X) = (1[X G >= 0] * (X W1)) W2``.
Its weight decay is ``(alpha / 2) (||W1||_F^2 + ||W2||_F^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TwoLayerNetwork", "recover_two_layer", "caratheodory_prune", "two_layer_module"]


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
    """
    K = G.shape[1]
    theta = np.ones(K)
    active = np.flatnonzero(costs > 0)
    theta[costs <= 0] = 0.0
    while active.size > max_atoms:
        M = np.vstack([G[:, active] * theta[active], costs[active] * theta[active]])
        _, _, Vt = np.linalg.svd(M, full_matrices=True)
        tau = Vt[-1]
        if not np.any(tau < 0):
            tau = -tau
        neg = tau < 0
        eps = np.min(1.0 / -tau[neg])
        factor = 1.0 + eps * tau
        factor[np.argmin(np.where(neg, factor, np.inf))] = 0.0
        theta[active] *= np.maximum(factor, 0.0)
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
