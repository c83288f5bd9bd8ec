"""Non-convex training of the same objectives with PyTorch (the baselines convex training beats).

Two-layer networks ``f(X) = (X W1)_+ W2`` (``X`` holds the ones column of a bias, as in the convex
programs) trained on ``J = loss(f(X), Y) + (alpha / 2)(||W1||_F^2 + ||W2||_F^2)`` from several
random starts with L-BFGS or Adam, full batch, in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convexnet.losses import get_loss
from convexnet.networks import TwoLayerNetwork

__all__ = ["NonConvexResult", "train_two_layer_nonconvex"]


@dataclass
class NonConvexResult:
    """Objectives of every start (evaluated in NumPy) and the best network."""

    objectives: np.ndarray
    best: TwoLayerNetwork
    best_objective: float
    times: np.ndarray


def _torch_loss(name: str):
    import torch

    if name == "squared":
        return lambda P, Y: 0.5 * torch.sum((P - Y) ** 2)
    if name == "logistic":
        return lambda P, Y: torch.sum(torch.nn.functional.softplus(-Y * P))
    return lambda P, Y: torch.sum(torch.logsumexp(P, dim=1) - torch.sum(Y * P, dim=1))


def train_two_layer_nonconvex(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    width: int,
    alpha: float,
    loss: str = "squared",
    n_starts: int = 10,
    optimizer: str = "lbfgs",
    max_iter: int = 2000,
    lr: float = 1e-2,
    init_scale: float = 1.0,
    decoupled: bool = False,
    random_state: int = 0,
) -> NonConvexResult:
    """Train the two-layer network of the convex programs non-convexly from ``n_starts`` starts.

    With ``decoupled`` each of ``width`` neurons per output feeds only its own output, the
    architecture of the decoupled vector-output program (SPEC.md §1.7).
    """
    import time

    import torch

    lossobj = get_loss(loss)
    Y2 = Y.reshape(X.shape[0], -1).astype(float)
    d = X.shape[1]
    c = Y2.shape[1]
    m = width * c if decoupled else width
    mask = np.ones((m, c))
    if decoupled:
        mask = np.kron(np.eye(c), np.ones((width, 1)))
    Xt = torch.as_tensor(X, dtype=torch.float64)
    Yt = torch.as_tensor(Y2, dtype=torch.float64)
    Mt = torch.as_tensor(mask, dtype=torch.float64)
    tloss = _torch_loss(lossobj.name)
    gen = torch.Generator().manual_seed(int(random_state))
    objectives, times, nets = [], [], []
    for _ in range(n_starts):
        W1 = init_scale * torch.randn(d, m, generator=gen, dtype=torch.float64) / np.sqrt(d)
        W2 = init_scale * torch.randn(m, c, generator=gen, dtype=torch.float64) / np.sqrt(m)
        W1.requires_grad_(True)
        W2.requires_grad_(True)

        def closure(W1=W1, W2=W2):
            W1.grad = None
            W2.grad = None
            W2m = W2 * Mt
            J = tloss(torch.relu(Xt @ W1) @ W2m, Yt) + 0.5 * alpha * (
                torch.sum(W1**2) + torch.sum(W2m**2)
            )
            J.backward()
            return J

        start = time.perf_counter()
        if optimizer == "lbfgs":
            opt = torch.optim.LBFGS(
                [W1, W2],
                lr=1.0,
                max_iter=max_iter,
                tolerance_grad=1e-12,
                tolerance_change=1e-15,
                history_size=50,
                line_search_fn="strong_wolfe",
            )
            opt.step(closure)
        elif optimizer == "adam":
            opt = torch.optim.Adam([W1, W2], lr=lr)
            for _ in range(max_iter):
                opt.step(closure)
        else:
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}.")
        times.append(time.perf_counter() - start)
        net = TwoLayerNetwork(W1.detach().numpy().copy(), (W2 * Mt).detach().numpy().copy())
        objectives.append(net.objective(X, Y2, lossobj, alpha))
        nets.append(net)
    objectives = np.array(objectives)
    best = int(np.argmin(objectives))
    return NonConvexResult(objectives, nets[best], float(objectives[best]), np.array(times))
