"""Non-convex training of the same objectives with PyTorch (the baselines convex training beats).

Two-layer networks ``f(X) = (X W1)_+ W2`` (``X`` holds the ones column of a bias, as in the convex
programs) trained on ``J = loss(f(X), Y) + (alpha / 2)(||W1||_F^2 + ||W2||_F^2)`` from several
random starts with L-BFGS or Adam, full batch, in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convexnet.losses import get_loss
from convexnet.networks import REGULARIZERS, ThreeLayerNetwork, TwoLayerNetwork

__all__ = [
    "DeepNonConvexResult",
    "NonConvexResult",
    "deep_relu_forward",
    "deep_relu_regularizer",
    "train_deep_relu_nonconvex",
    "train_three_layer_nonconvex",
    "train_two_layer_nonconvex",
]


@dataclass
class NonConvexResult:
    """Objectives of every start (evaluated in NumPy) and the best network.

    ``histories`` (when asked for): per start, an array of ``(iteration, seconds, objective)``
    rows, the objective as the optimizer evaluated it (torch, before any projection step).
    """

    objectives: np.ndarray
    best: TwoLayerNetwork
    best_objective: float
    times: np.ndarray
    histories: list | None = None


def _lbfgs(params, max_iter: int, tolerance_grad: float = 1e-12, tolerance_change: float = 1e-15):
    """Full-batch L-BFGS with a strong-Wolfe line search, as every baseline here uses it."""
    import torch

    return torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tolerance_grad,
        tolerance_change=tolerance_change,
        history_size=50,
        line_search_fn="strong_wolfe",
    )


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
            opt = _lbfgs([W1, W2], max_iter)
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


# ------------------------------------------------------------------------------------------------
# deep ReLU networks (SPEC.md §4): standard (one branch) and parallel (several branches)
# ------------------------------------------------------------------------------------------------


@dataclass
class DeepNonConvexResult:
    """Every start of :func:`train_deep_relu_nonconvex` and the best (feasible) one.

    ``objectives[s]`` is the regulariser (interpolation) or ``loss + alpha * regulariser`` of start
    ``s``; ``residuals[s] = max |f(X) - Y|``; ``feasible[s]`` says ``residuals[s] <= feas_tol``
    (always true for the regularised problem). ``branches`` holds the best start's layers,
    ``branches[j] = [(W_1, b_1), ..., (W_L, b_L)]`` (``b_l`` is ``None`` without biases).
    """

    objectives: np.ndarray
    residuals: np.ndarray
    feasible: np.ndarray
    best_objective: float
    branches: list
    times: np.ndarray


def deep_relu_forward(X: np.ndarray, branches, activation: str = "relu") -> np.ndarray:
    """``sum_j f_j(X)``, with ``f_j`` a chain ``x -> relu(x W_1 + b_1) ... W_L + b_L`` (NumPy);
    ``activation="linear"`` drops the ReLUs (deep linear networks, SPEC §2)."""
    out = 0.0
    relu = _check_activation(activation) == "relu"
    for layers in branches:
        h = np.asarray(X, dtype=float)
        for l, (W, b) in enumerate(layers):
            h = h @ W + (0.0 if b is None else b)
            if relu and l < len(layers) - 1:
                h = np.maximum(h, 0.0)
        out = out + h
    return np.asarray(out)


def _check_activation(activation: str) -> str:
    if activation not in ("relu", "linear"):
        raise ValueError(f"activation must be 'relu' or 'linear', got {activation!r}.")
    return activation


def deep_relu_regularizer(branches, regularization: str = "weight_decay") -> float:
    """``(1/2) sum ||W||_F^2`` ("weight_decay", [002] (17)) or ``(1/L) sum_{j,l} ||W_{l,j}||_F^L``
    ("lth_power", [002] (22)); biases are never penalised."""
    total = 0.0
    for layers in branches:
        L = len(layers)
        norms = np.array([np.linalg.norm(W) for W, _ in layers])
        wd = regularization == "weight_decay"
        total += 0.5 * np.sum(norms**2) if wd else np.sum(norms**L) / L
    return float(total)


def train_deep_relu_nonconvex(
    X: np.ndarray,
    Y: np.ndarray,
    widths,
    *,
    n_branches: int = 1,
    regularization: str = "weight_decay",
    alpha: float | None = None,
    biases: bool = False,
    n_starts: int = 10,
    max_iter: int = 300,
    outer_iter: int = 40,
    feas_tol: float = 1e-6,
    init_scale: float = 1.0,
    random_state: int = 0,
    activation: str = "relu",
) -> DeepNonConvexResult:
    """Train deep ReLU networks of hidden ``widths`` non-convexly (torch L-BFGS, float64).

    The network is ``sum_{j<=n_branches} relu(... relu(X W_{1,j} + b_{1,j}) ...) W_{L,j} (+ b)``
    with ``L = len(widths) + 1`` (one branch: the standard network (17); several: the parallel
    network (22) of [002]). ``alpha=None`` solves the interpolation problem ``min R s.t.
    f(X) = Y`` by an augmented Lagrangian (``outer_iter`` multiplier updates, each an L-BFGS run of
    ``max_iter`` iterations); ``alpha > 0`` minimises ``(1/2)||f(X) - Y||^2 + alpha R``. ``R`` is
    :func:`deep_relu_regularizer`; biases (``biases=True``, every layer) are not penalised.
    ``activation="linear"`` trains the deep linear networks of SPEC §2 ((5), (12), (14)) instead.
    """
    import time

    import torch

    if regularization not in ("weight_decay", "lth_power"):
        raise ValueError(
            f"regularization must be 'weight_decay' or 'lth_power', got {regularization!r}."
        )
    relu = _check_activation(activation) == "relu"
    X = np.asarray(X, dtype=float)
    Y2 = np.asarray(Y, dtype=float).reshape(X.shape[0], -1)
    dims = [X.shape[1], *[int(w) for w in widths], Y2.shape[1]]
    L = len(dims) - 1
    Xt = torch.as_tensor(X)
    Yt = torch.as_tensor(Y2)
    gen = torch.Generator().manual_seed(int(random_state))

    def forward(params):
        out = 0.0
        for layers in params:
            h = Xt
            for l, (W, b) in enumerate(layers):
                h = h @ W + (0.0 if b is None else b)
                if relu and l < L - 1:
                    h = torch.relu(h)
            out = out + h
        return out

    def reg(params):
        total = 0.0
        for layers in params:
            for W, _ in layers:
                sq = torch.sum(W**2)
                wd = regularization == "weight_decay"
                total = total + (0.5 * sq if wd else sq ** (L / 2) / L)
        return total

    objectives, residuals, times, nets = [], [], [], []
    for _ in range(n_starts):
        params, flat = [], []
        for _ in range(n_branches):
            layers = []
            for l in range(L):
                W = torch.randn(dims[l], dims[l + 1], generator=gen, dtype=torch.float64)
                W = (init_scale * W / np.sqrt(dims[l])).requires_grad_(True)
                b = None
                if biases:
                    b = 0.1 * torch.randn(dims[l + 1], generator=gen, dtype=torch.float64)
                    b.requires_grad_(True)
                    flat.append(b)
                flat.append(W)
                layers.append((W, b))
            params.append(layers)
        mult = torch.zeros_like(Yt)
        rho = 10.0
        start = time.perf_counter()
        rounds = 1 if alpha is not None else outer_iter
        prev = np.inf
        for _ in range(rounds):
            opt = _lbfgs(flat, max_iter, tolerance_grad=1e-11, tolerance_change=1e-14)

            def closure(opt=opt, params=params, mult=mult, rho=rho):
                opt.zero_grad()
                R = forward(params) - Yt
                if alpha is None:
                    J = reg(params) + torch.sum(mult * R) + 0.5 * rho * torch.sum(R**2)
                else:
                    J = 0.5 * torch.sum(R**2) + alpha * reg(params)
                J.backward()
                return J

            opt.step(closure)
            if alpha is None:
                with torch.no_grad():
                    R = forward(params) - Yt
                    mult += rho * R
                    r = float(torch.max(torch.abs(R)))
                if r <= 0.1 * feas_tol:
                    break
                if r > 0.25 * prev:
                    rho = min(rho * 4.0, 1e8)
                prev = r
        times.append(time.perf_counter() - start)
        net = [
            [
                (W.detach().numpy().copy(), None if b is None else b.detach().numpy().copy())
                for W, b in layers
            ]
            for layers in params
        ]
        out = deep_relu_forward(X, net, activation)
        res = float(np.max(np.abs(out - Y2)))
        R = deep_relu_regularizer(net, regularization)
        objectives.append(R if alpha is None else 0.5 * float(np.sum((out - Y2) ** 2)) + alpha * R)
        residuals.append(res)
        nets.append(net)
    objectives, residuals = np.array(objectives), np.array(residuals)
    feasible = residuals <= feas_tol if alpha is None else np.ones(n_starts, dtype=bool)
    pool = np.where(feasible, objectives, np.inf)
    best = int(np.argmin(pool)) if np.any(feasible) else int(np.argmin(residuals))
    return DeepNonConvexResult(
        objectives, residuals, feasible, float(objectives[best]), nets[best], np.array(times)
    )


def train_three_layer_nonconvex(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    n_subnetworks: int,
    width: int,
    alpha: float,
    loss: str = "squared",
    regularizer: str = "R1",
    optimizer: str = "adam",
    n_starts: int = 10,
    max_iter: int = 2000,
    lr: float = 1e-2,
    init_scale: float = 1.0,
    random_state: int = 0,
    record_history: bool = False,
) -> NonConvexResult:
    """Train a three-layer parallel ReLU network non-convexly from ``n_starts`` random starts.

    ``K = n_subnetworks`` sub-networks of ``width`` first-layer neurons; with ``c > 1`` outputs,
    ``K`` per output, each feeding only its own output (decoupled, as the convex program). The
    objective is ``loss(f(X), Y) + alpha * R`` with ``R`` one of (SPEC.md §3.2):

    * ``"R1"``: ``sum_k (||w2_k||^2 + ||w3_k||^2) / 2`` with ``||W1_k||_F <= 1``, enforced by
      projecting each ``W1_k`` onto the unit ball after every step (projected gradient; with
      ``optimizer="lbfgs"`` the ball is parametrised as ``W1_k = U_k / max(1, ||U_k||)``);
    * ``"R3"``: ``sum_k (a_k^3 + b_k^3 + c_k^3) / 3``;
    * ``"WD"``: ``sum_k (a_k^2 + b_k^2 + c_k^2) / 2`` (not the convex program's objective).

    ``optimizer`` is ``"adam"``, ``"sgd"`` (full-batch gradient descent with momentum 0.9) or
    ``"lbfgs"``. Each start's objective is re-evaluated in NumPy on the returned weights.
    ``record_history=True`` keeps the objective of every iteration (every function evaluation
    for L-BFGS) with its time in ``histories`` (SPEC §5.3 E001-1: objective against iterations).
    """
    import time

    import torch

    if regularizer not in REGULARIZERS:
        raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}.")
    if optimizer not in ("adam", "sgd", "lbfgs"):
        raise ValueError(f"optimizer must be 'adam', 'sgd' or 'lbfgs', got {optimizer!r}.")
    lossobj = get_loss(loss)
    Y2 = Y.reshape(X.shape[0], -1).astype(float)
    d = X.shape[1]
    c = Y2.shape[1]
    K = n_subnetworks * c
    mask = np.kron(np.eye(c), np.ones((n_subnetworks, 1)))  # (K, c)
    Xt = torch.as_tensor(X, dtype=torch.float64)
    Yt = torch.as_tensor(Y2, dtype=torch.float64)
    Mt = torch.as_tensor(mask, dtype=torch.float64)
    tloss = _torch_loss(lossobj.name)
    gen = torch.Generator().manual_seed(int(random_state))
    parametrise = regularizer == "R1" and optimizer == "lbfgs"

    def first_layer(U):
        if not parametrise:
            return U
        norms = torch.sqrt(torch.sum(U**2, dim=(1, 2)))
        return U / torch.clamp(norms, min=1.0)[:, None, None]

    def objective(U, w2, w3):
        W1 = first_layer(U)
        w3m = w3 * Mt
        H1 = torch.relu(torch.einsum("nd,kdm->nkm", Xt, W1))
        H2 = torch.relu(torch.einsum("nkm,km->nk", H1, w2))
        a = torch.sqrt(torch.sum(W1**2, dim=(1, 2)) + 1e-300)
        b = torch.sqrt(torch.sum(w2**2, dim=1) + 1e-300)
        cc = torch.sqrt(torch.sum(w3m**2, dim=1) + 1e-300)
        if regularizer == "R1":
            pen = 0.5 * torch.sum(b**2 + cc**2)
        elif regularizer == "R3":
            pen = torch.sum(a**3 + b**3 + cc**3) / 3.0
        else:
            pen = 0.5 * torch.sum(a**2 + b**2 + cc**2)
        return tloss(H2 @ w3m, Yt) + alpha * pen

    def project(U):
        if regularizer == "R1" and not parametrise:
            with torch.no_grad():
                norms = torch.sqrt(torch.sum(U**2, dim=(1, 2)))
                U /= torch.clamp(norms, min=1.0)[:, None, None]

    objectives, times, nets, histories = [], [], [], []
    for _ in range(n_starts):
        history: list = []
        U = init_scale * torch.randn(K, d, width, generator=gen, dtype=torch.float64) / np.sqrt(d)
        w2 = init_scale * torch.randn(K, width, generator=gen, dtype=torch.float64) / np.sqrt(width)
        w3 = init_scale * torch.randn(K, c, generator=gen, dtype=torch.float64) / np.sqrt(K)
        project(U)
        params = [U.requires_grad_(True), w2.requires_grad_(True), w3.requires_grad_(True)]
        start = time.perf_counter()

        def record(J, start=start, history=history):
            if record_history:
                history.append((len(history), time.perf_counter() - start, float(J)))

        if optimizer == "lbfgs":
            opt = _lbfgs(params, max_iter)

            def closure(U=U, w2=w2, w3=w3, opt=opt):
                opt.zero_grad()
                J = objective(U, w2, w3)
                J.backward()
                record(J)
                return J

            opt.step(closure)
        else:
            if optimizer == "adam":
                opt = torch.optim.Adam(params, lr=lr)
            else:
                opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
            for _ in range(max_iter):
                opt.zero_grad()
                J = objective(U, w2, w3)
                J.backward()
                record(J)
                opt.step()
                project(U)
        times.append(time.perf_counter() - start)
        histories.append(np.array(history).reshape(-1, 3))
        with torch.no_grad():
            W1 = first_layer(U)
            if regularizer == "R1":  # make ||W1_k|| <= 1 exact in float64 before evaluating
                norms = torch.sqrt(torch.sum(W1**2, dim=(1, 2)))
                W1 = W1 / torch.clamp(norms, min=1.0)[:, None, None]
        net = ThreeLayerNetwork(
            W1.detach().numpy().copy(),
            w2.detach().numpy().copy(),
            (w3 * Mt).detach().numpy().copy(),
        )
        value = net.objective(X, Y2, lossobj, alpha, regularizer)
        objectives.append(value if np.isfinite(value) else np.inf)
        nets.append(net)
    objectives = np.array(objectives)
    best = int(np.argmin(objectives))
    return NonConvexResult(
        objectives,
        nets[best],
        float(objectives[best]),
        np.array(times),
        histories if record_history else None,
    )
