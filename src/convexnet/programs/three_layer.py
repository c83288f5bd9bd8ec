"""The lifted convex program of three-layer parallel ReLU networks ([001]; SPEC.md §3).

Network (SPEC.md §3.1), ``K`` sub-networks of ``m1`` first-layer neurons each::

    f(X) = sum_k ((X W1_k)_+ w2_k)_+ w3_k,     W1_k in R^{d x m1}, w2_k in R^{m1}, w3_k in R

(``w3_k`` has one non-zero entry per sub-network for ``c`` outputs: decoupled outputs, SPEC §1.7).

Blocks (SPEC.md §3.3). A *signed pattern* ``(i, s)`` is a first-layer pattern ``D1_i`` with a sign
``s = +-1`` (the sign of ``w2_kj``); its cone is ``{v : s (2 D1_i - I) X v >= 0}``. A block is a
set of at most ``m1`` distinct signed patterns with a second-layer pattern ``D2_b`` (the sign
pattern of ``h_b = sum_j D1_{i_bj} X v_bj``). The program, one per output column, is::

    min  loss( sum_b D2_b sum_j D1_{i_bj} X (V_bj - W_bj), y )
           + alpha * sum_{b,j} (||V_bj|| + ||W_bj||)
    s.t. s_bj (2 D1_{i_bj} - I) X V_bj >= 0                   (first-layer cones; same for W)
         (2 D2_b - I) sum_j D1_{i_bj} X V_bj >= 0               (coupling; same for W)

``V`` carries the output sign ``sigma_b = +1``, ``W`` the sign ``-1``. By the exact reductions of
SPEC §3.4 the blocks are the *singles* ``{(i, +)}`` with ``D2 = I`` (the two-layer atoms; no
coupling needed) and the *mixed* sets (both signs present) with their second-layer patterns; so
the three-layer optimum is never above the two-layer optimum over the same first-layer patterns.

Second-layer patterns of a mixed set are either sampled (random non-negative combinations of
points of the first-layer cones) or enumerated exactly by incremental feasibility LPs over the
polyhedral cone ``H_S`` of feasible ``h`` (SPEC §3.4 item 3). The block set is *complete* (the
certificate then holds against every network of this width) only if the first-layer patterns were
enumerated, every mixed set of size ``<= m1`` is present and every second-layer pattern was
enumerated exactly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from sklearn.utils import check_random_state

from convexnet._validation import check_positive_int, physical_memory
from convexnet.losses import Loss
from convexnet.patterns import count_bound

__all__ = [
    "BlockSet",
    "ThreeLayerProgram",
    "ThreeLayerSize",
    "ThreeLayerSolution",
    "build_blocks",
    "estimate_size",
    "second_layer_patterns",
]

#: Refuse a program whose estimated solver memory exceeds this fraction of physical memory.
MEMORY_FRACTION = 0.5
_DEFAULT_MAX_LPS = 100_000


# ----------------------------------------------------------------------------------------
# Block sets
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BlockSet:
    """The blocks of a three-layer program, stored flat by *member* (a signed pattern in a block).

    Attributes
    ----------
    D1 : (n, P1) bool
        First-layer patterns.
    generators : (d, P1) float
        A point strictly inside each first-layer cone.
    member_pattern, member_sign, member_block : (A,) int arrays
        For member ``a``: its first-layer pattern ``i``, its sign ``s`` and its block ``b``.
    D2 : (n, B) bool
        Second-layer pattern of each block (all ones for singles).
    width : int
        ``m1``, the largest block size allowed.
    first_layer_complete, second_layer_complete : bool
        Whether the first-layer patterns were enumerated, and whether every mixed signed set of
        size ``<= m1`` is present with every second-layer pattern enumerated exactly.
    """

    D1: np.ndarray
    generators: np.ndarray
    member_pattern: np.ndarray
    member_sign: np.ndarray
    member_block: np.ndarray
    D2: np.ndarray
    width: int
    first_layer_complete: bool
    second_layer_complete: bool

    @property
    def is_complete(self) -> bool:
        """Complete block set: the certificate holds against every network of width ``m1``."""
        return self.first_layer_complete and self.second_layer_complete

    @property
    def n_blocks(self) -> int:
        return int(self.D2.shape[1])

    @property
    def n_members(self) -> int:
        return int(self.member_pattern.size)

    @property
    def n_samples(self) -> int:
        return int(self.D1.shape[0])

    @property
    def mixed(self) -> np.ndarray:
        """(B,) bool: blocks with both member signs (they carry a coupling constraint)."""
        neg = np.zeros(self.n_blocks, dtype=bool)
        neg[self.member_block[self.member_sign < 0]] = True
        return neg

    @property
    def n_mixed(self) -> int:
        return int(self.mixed.sum())

    def block_sizes(self) -> np.ndarray:
        return np.bincount(self.member_block, minlength=self.n_blocks)

    def membership(self) -> np.ndarray:
        """(A, B) 0/1 matrix: member ``a`` belongs to block ``b``."""
        M = np.zeros((self.n_members, self.n_blocks))
        M[np.arange(self.n_members), self.member_block] = 1.0
        return M

    def member_masks(self) -> np.ndarray:
        """(n, A) float: ``D1`` of each member's pattern."""
        return self.D1[:, self.member_pattern].astype(float)

    def subset(self, blocks) -> BlockSet:
        """The blocks selected by ``blocks`` (indices); completeness is dropped if any is lost."""
        blocks = np.unique(np.asarray(blocks, dtype=np.intp))
        new_index = -np.ones(self.n_blocks, dtype=np.intp)
        new_index[blocks] = np.arange(blocks.size)
        keep = new_index[self.member_block] >= 0
        same = blocks.size == self.n_blocks
        return BlockSet(
            self.D1,
            self.generators,
            self.member_pattern[keep],
            self.member_sign[keep],
            new_index[self.member_block[keep]],
            self.D2[:, blocks],
            self.width,
            self.first_layer_complete,
            self.second_layer_complete and same,
        )

    def describe_block(self, b: int) -> str:
        idx = np.flatnonzero(self.member_block == b)
        members = ", ".join(
            f"({self.member_pattern[a]},{'+' if self.member_sign[a] > 0 else '-'})" for a in idx
        )
        return f"block {b}: {{{members}}}, |D2|={int(self.D2[:, b].sum())}"


def _cone_points(X: np.ndarray, D1: np.ndarray, G: np.ndarray, per_pattern: int, rng) -> list:
    """Up to ``per_pattern + 1`` unit points strictly inside each first-layer cone ``K_i``.

    The generator, then Gaussian draws that land in the cone, then perturbations of the generator
    that stay in it (for cones of small solid angle).
    """
    n, d = X.shape
    P = D1.shape[1]
    keys = {D1[:, i].tobytes(): i for i in range(P)}
    pools = [[G[:, i] / max(np.linalg.norm(G[:, i]), 1e-300)] for i in range(P)]
    U = rng.standard_normal((d, max(200, 30 * P * max(per_pattern, 1))))
    U /= np.linalg.norm(U, axis=0)
    DU = X @ U >= 0
    for t in range(U.shape[1]):
        i = keys.get(DU[:, t].tobytes())
        if i is not None and len(pools[i]) <= per_pattern:
            pools[i].append(U[:, t])
    for i in range(P):
        g = pools[i][0]
        for eps in (0.5, 0.2, 0.05):
            if len(pools[i]) > per_pattern:
                break
            for _ in range(4 * per_pattern):
                u = g + eps * rng.standard_normal(d)
                if np.array_equal(X @ u >= 0, D1[:, i]):
                    pools[i].append(u / np.linalg.norm(u))
                    if len(pools[i]) > per_pattern:
                        break
    return [np.array(p).T for p in pools]  # each (d, q_i)


def _sample_second_layer(XD: list, pools: list, members, n_combinations: int, rng) -> np.ndarray:
    """Second-layer patterns ``1[h >= 0]`` of random feasible ``h`` of one mixed set."""
    outs = []
    for t in range(n_combinations):
        h = 0.0
        for i, s in members:
            pool = pools[i]
            u = pool[:, 0] if t == 0 else pool[:, rng.randint(pool.shape[1])]
            scale = 1.0 if t == 0 else float(np.exp(1.5 * rng.standard_normal()))
            h = h + s * scale * np.maximum(XD[i] @ u, 0.0)
        outs.append(h >= 0)
    return np.array(outs).T


def _feasible(A_ub, b_ub, nvar) -> np.ndarray | None:
    res = linprog(
        np.zeros(nvar),
        A_ub=A_ub,
        b_ub=b_ub,
        bounds=[(None, None)] * nvar,
        method="highs",
        options={"primal_feasibility_tolerance": 1e-9},
    )
    return res.x if res.status == 0 and res.x is not None else None


def second_layer_patterns(
    X: np.ndarray, D1: np.ndarray, members, *, max_lps: int = _DEFAULT_MAX_LPS
) -> tuple[np.ndarray, int]:
    """Every second-layer pattern ``1[h >= 0]`` of one signed set, by incremental LPs.

    ``h = sum_j D1_{i_j} X v_j`` over ``v_j`` in the signed cones
    ``s_j (2 D1_{i_j} - I) X v_j >= 0`` is a polyhedral cone ``H_S`` (SPEC §3.4 item 3). Rows
    are processed one by one, keeping each
    sign vector realised by some ``h``: ``h_k >= 0`` (active) or ``h_k <= -1`` (inactive, ``<= -1``
    being the same as ``< 0`` by homogeneity). A row's sign at the current witness needs no LP; the
    other sign is tested by a feasibility LP (HiGHS). Each leaf is realised by its witness, so the
    patterns returned are exactly those of ``H_S``. Returns ``(D2 (n, P2) bool, number of LPs)``.
    """
    n, d = X.shape
    m = len(members)
    nv = m * d
    # A_cone v >= 0 (cones); h = Hmat v
    cone_rows, H = [], np.zeros((n, nv))
    for j, (i, s) in enumerate(members):
        Dj = D1[:, i].astype(float)
        block = np.zeros((n, nv))
        block[:, j * d : (j + 1) * d] = s * (2.0 * Dj - 1.0)[:, None] * X
        cone_rows.append(block)
        H[:, j * d : (j + 1) * d] = Dj[:, None] * X
    A_cone = np.vstack(cone_rows)
    live = np.flatnonzero(np.abs(H).sum(axis=1) > 0)  # rows with h_k = 0 always are active
    # nodes: (signs over processed live rows, witness)
    nodes = [(np.zeros(0), np.zeros(nv))]
    n_lp = 0
    for step, k in enumerate(live):
        processed = live[:step]
        new_nodes = []
        for signs, w in nodes:
            val = H[k] @ w
            if val >= 0:
                new_nodes.append((np.append(signs, 1.0), w))
                todo = -1.0
            else:
                t = max(1.0, 1.0 / -val)
                new_nodes.append((np.append(signs, -1.0), t * w))
                todo = 1.0
            n_lp += 1
            if n_lp > max_lps:
                raise ValueError(
                    f"second-layer pattern enumeration needs more than max_lps={max_lps} linear "
                    "programs; use sampled second-layer patterns, fewer samples or a smaller width."
                )
            sk = np.append(signs, todo)
            rows = np.concatenate([processed, [k]])
            # active rows: -h <= 0; inactive rows: h <= -1; cones: -A v <= 0
            Hs = -sk[:, None] * H[rows]
            b = np.where(sk > 0, 0.0, -1.0)
            x = _feasible(
                np.vstack([Hs, -A_cone]), np.concatenate([b, np.zeros(A_cone.shape[0])]), nv
            )
            if x is not None:
                hv = H[rows] @ x
                if np.all(np.where(sk > 0, hv >= -1e-9, hv <= -1 + 1e-7)):
                    new_nodes.append((sk, x))
        nodes = new_nodes
    D2 = np.ones((n, len(nodes)), dtype=bool)
    for c, (signs, _) in enumerate(nodes):
        D2[live, c] = signs > 0
    return D2, n_lp


def _mixed_sets(P1: int, width: int) -> list[tuple[tuple[int, int], ...]]:
    signed = [(i, 1) for i in range(P1)] + [(i, -1) for i in range(P1)]
    out = []
    for m in range(2, width + 1):
        for combo in itertools.combinations(signed, m):
            signs = {s for _, s in combo}
            if len(signs) == 2:
                out.append(combo)
    return out


def n_mixed_sets(P1: int, width: int) -> int:
    """Number of signed sets of size ``2..m1`` with both signs: ``C(2P1, m) - 2 C(P1, m)``."""
    return sum(math.comb(2 * P1, m) - 2 * math.comb(P1, m) for m in range(2, width + 1))


@dataclass(frozen=True)
class ThreeLayerSize:
    """Sizes of a three-layer program, computable before it is built."""

    n_blocks: int
    n_members: int
    n_variables: int
    n_constraint_rows: int
    memory_bytes: int

    def describe(self) -> str:
        return (
            f"{self.n_blocks:,} blocks, {self.n_members:,} signed-pattern members, "
            f"{self.n_variables:,} variables, {self.n_constraint_rows:,} constraint rows, "
            f"about {self.memory_bytes / 2**20:,.1f} MiB for the conic solver"
        )


def _size(n: int, d: int, c: int, n_singles: int, mixed_sizes: dict[int, int]) -> ThreeLayerSize:
    n_mixed = sum(mixed_sizes.values())
    members = n_singles + sum(m * k for m, k in mixed_sizes.items())
    blocks = n_singles + n_mixed
    variables = 2 * members * d * c
    rows = 2 * c * n * (members + n_mixed)
    nnz = rows * d + 2 * c * n * d * sum(m * k for m, k in mixed_sizes.items())
    nnz += 2 * c * n * members * d
    return ThreeLayerSize(blocks, members, variables, rows, int(100 * nnz + 8 * variables))


def estimate_size(
    n: int,
    d: int,
    n_outputs: int,
    n_first_layer: int,
    width: int,
    *,
    second_layer: str | int = "sample",
    max_blocks: int | None = None,
    rank: int | None = None,
) -> ThreeLayerSize:
    """Upper bounds on the program's sizes, from the counts alone (SPEC §3.8).

    Singles: ``P1``; mixed signed sets of size ``m``: ``C(2P1, m) - 2 C(P1, m)``; second-layer
    patterns per set: ``second_layer`` when it is a number of sampled combinations, else the
    Cover bound ``2 sum_{k<r2} C(n-1, k)`` with ``r2 = min(n, m r)`` (``r = rank X``). At most
    ``max_blocks`` mixed blocks are kept. Variables: ``2 c d`` per member (both output signs).
    """
    r = d if rank is None else rank
    mixed_sizes: dict[int, int] = {}
    for m in range(2, width + 1):
        sets = math.comb(2 * n_first_layer, m) - 2 * math.comb(n_first_layer, m)
        if isinstance(second_layer, str):
            per = count_bound(n, min(n, m * r)).cover if r > 0 else 1
        else:
            per = int(second_layer)
        mixed_sizes[m] = sets * per
    if max_blocks is not None:
        total = sum(mixed_sizes.values())
        if total > max_blocks:
            # keep the proportions; the sizes are an estimate
            mixed_sizes = {m: math.ceil(k * max_blocks / total) for m, k in mixed_sizes.items()}
    return _size(n, d, n_outputs, n_first_layer, mixed_sizes)


def check_size(size: ThreeLayerSize, *, what: str = "three-layer program") -> None:
    """Refuse (``MemoryError``) a program needing more than half of this machine's memory.

    Same contract as the two-layer refusal (:func:`convexnet.training.train_two_layer`): the
    message gives the need, the memory, and what to shrink.
    """
    have = physical_memory() or 4 * 2**30
    need = size.memory_bytes
    if need > MEMORY_FRACTION * have:
        raise MemoryError(
            f"the {what} would need about {need / 2**30:.1f} GiB ({size.describe()}), more "
            f"than half of this machine's {have / 2**30:.1f} GiB. Use fewer first-layer "
            "patterns (activation_patterns=<small int>), a smaller width, fewer second-layer "
            "patterns (second_layer_patterns=<small int>), a smaller max_blocks, or fewer "
            "samples or features."
        )


def build_blocks(
    X: np.ndarray,
    patterns,
    width: int,
    *,
    second_layer: str | int = "sample",
    max_blocks: int | None = None,
    n_outputs: int = 1,
    max_lps: int = _DEFAULT_MAX_LPS,
    random_state=None,
) -> BlockSet:
    """Blocks of the three-layer program over first-layer ``patterns`` (SPEC §3.3-3.4).

    Parameters
    ----------
    X : (n, d) array
    patterns : ActivationPatterns
        First-layer patterns (the all-zero pattern is dropped).
    width : int
        ``m1``, first-layer neurons per sub-network (``>= 1``).
    second_layer : "enumerate", "sample" or int
        ``"enumerate"``: every second-layer pattern of every mixed set, by LPs (tiny problems);
        an int ``k`` (``"sample"``: 8): ``k`` random feasible ``h`` per mixed set, de-duplicated.
    max_blocks : int or None
        Keep at most this many mixed blocks (chosen at random); the block set is then incomplete.
    n_outputs : int
        Used only for the size check made before building.

    Raises ``MemoryError`` when the size bound computed before building exceeds half of the
    machine's memory (the message says how to shrink it).
    """
    width = check_positive_int(width, "width")
    if max_blocks is not None:
        max_blocks = check_positive_int(max_blocks, "max_blocks", minimum=0)
    enumerate_d2 = second_layer == "enumerate"
    if isinstance(second_layer, bool) or not (
        second_layer in ("enumerate", "sample") or isinstance(second_layer, int | np.integer)
    ):
        raise ValueError(
            "second_layer_patterns must be 'enumerate', 'sample' or a positive int, "
            f"got {second_layer!r}."
        )
    n_comb = 8 if second_layer == "sample" else (0 if enumerate_d2 else int(second_layer))
    if not enumerate_d2 and n_comb < 1:
        raise ValueError(f"second_layer_patterns must be positive, got {second_layer}.")
    rng = check_random_state(random_state)
    keep = patterns.D.any(axis=0)
    D1 = np.asarray(patterns.D, dtype=bool)[:, keep]
    G = np.asarray(patterns.generators, dtype=float)[:, keep]
    n, d = X.shape
    P1 = D1.shape[1]
    rank = int(np.linalg.matrix_rank(X)) if X.size else 0
    size = estimate_size(
        n,
        d,
        n_outputs,
        P1,
        width,
        second_layer="enumerate" if enumerate_d2 else n_comb,
        max_blocks=max_blocks,
        rank=rank,
    )
    check_size(size)
    members_p, members_s, members_b, D2s = [], [], [], []
    for i in range(P1):  # singles (i, +) with D2 = I
        members_p.append(i)
        members_s.append(1)
        members_b.append(i)
        D2s.append(np.ones(n, dtype=bool))
    sets = _mixed_sets(P1, width)
    XD = [D1[:, i][:, None] * X for i in range(P1)]
    pools = None if enumerate_d2 else _cone_points(X, D1, G, max(4, n_comb), rng)
    candidates = []  # (set, D2 column)
    n_lp = 0
    for members in sets:
        if enumerate_d2:
            D2, used = second_layer_patterns(X, D1, members, max_lps=max_lps - n_lp)
            n_lp += used
        else:
            D2 = _sample_second_layer(XD, pools, members, n_comb, rng)
        D2 = np.unique(D2, axis=1) if D2.shape[1] else D2
        for col in range(D2.shape[1]):
            # the block's output D2 h vanishes when D2 is zero on every row a member reaches
            reach = np.zeros(n, dtype=bool)
            for i, _ in members:
                reach |= D1[:, i]
            if np.any(D2[:, col] & reach):
                candidates.append((members, D2[:, col]))
    complete_second = enumerate_d2 or not sets
    if max_blocks is not None and len(candidates) > max_blocks:
        pick = np.sort(rng.choice(len(candidates), size=max_blocks, replace=False))
        candidates = [candidates[k] for k in pick]
        complete_second = False
    b = P1
    for members, D2 in candidates:
        for i, s in members:
            members_p.append(i)
            members_s.append(s)
            members_b.append(b)
        D2s.append(D2)
        b += 1
    return BlockSet(
        D1=D1,
        generators=G,
        member_pattern=np.array(members_p, dtype=np.intp),
        member_sign=np.array(members_s, dtype=float),
        member_block=np.array(members_b, dtype=np.intp),
        D2=np.array(D2s).T if D2s else np.ones((n, 0), dtype=bool),
        width=width,
        first_layer_complete=bool(patterns.is_complete),
        second_layer_complete=complete_second,
    )


# ----------------------------------------------------------------------------------------
# The program
# ----------------------------------------------------------------------------------------


@dataclass
class ThreeLayerSolution:
    """A (possibly approximate) solution: ``V``/``W`` of shape (A, d, c) for output signs +/-."""

    V: np.ndarray
    W: np.ndarray
    status: str
    objective: float
    solve_time: float
    solver: str
    iterations: int | None = None
    info: dict = field(default_factory=dict)


@dataclass
class ThreeLayerProgram:
    """The lifted convex program of SPEC §3.3 over a :class:`BlockSet`, one per output column.

    Variables ``V`` (output sign ``+``) and ``W`` (sign ``-``) have shape ``(A, d, c)``, one
    ``d``-vector per member and output. See the module docstring for the program.
    """

    X: np.ndarray
    Y: np.ndarray
    blocks: BlockSet
    loss: Loss
    alpha: float

    def __post_init__(self):
        self.X = np.asarray(self.X, dtype=float)
        self.Y = np.asarray(self.Y, dtype=float)
        if self.Y.ndim == 1:
            self.Y = self.Y[:, None]
        self._masks = self.blocks.member_masks()
        self._cone_sign = self.blocks.member_sign[None, :] * (2.0 * self._masks - 1.0)
        self._membership = self.blocks.membership()
        self._D2 = self.blocks.D2.astype(float)

    # ----------------------------------------------------------------- sizes
    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.Y.shape[1]

    @property
    def n_blocks(self) -> int:
        return self.blocks.n_blocks

    @property
    def n_members(self) -> int:
        return self.blocks.n_members

    def size(self) -> ThreeLayerSize:
        sizes: dict[int, int] = {}
        bs = self.blocks.block_sizes()
        for m in bs[self.blocks.mixed]:
            sizes[int(m)] = sizes.get(int(m), 0) + 1
        # non-mixed blocks (singles): one member each, no coupling rows
        singles = int(bs[~self.blocks.mixed].sum())
        return _size(self.n_samples, self.n_features, self.n_outputs, singles, sizes)

    @property
    def n_variables(self) -> int:
        return 2 * self.n_members * self.n_features * self.n_outputs

    def memory_estimate(self) -> int:
        return self.size().memory_bytes

    def describe(self) -> str:
        b = self.blocks
        return (
            f"three-layer group lasso with cones (alpha={self.alpha:g}, loss={self.loss.name}, "
            f"m1={b.width}): n={self.n_samples}, d={self.n_features}, outputs={self.n_outputs}, "
            f"first-layer patterns={b.D1.shape[1]}, blocks={b.n_blocks} ({b.n_mixed} mixed), "
            f"variables={self.n_variables:,}, "
            f"estimated solver memory {self.memory_estimate() / 2**20:,.1f} MiB, "
            f"complete block set: {b.is_complete}"
        )

    # ----------------------------------------------------------- evaluation
    def zeros(self) -> np.ndarray:
        return np.zeros((self.n_members, self.n_features, self.n_outputs))

    def block_pre_activations(self, V: np.ndarray) -> np.ndarray:
        """``h_b = sum_j D1_{i_bj} X V_bj``, shape (n, B, c)."""
        XV = np.einsum("nd,adc->nac", self.X, V)
        H = self._masks[:, :, None] * XV
        return np.einsum("nac,ab->nbc", H, self._membership)

    def block_outputs(self, V: np.ndarray) -> np.ndarray:
        """``D2_b h_b``, shape (n, B, c)."""
        return self._D2[:, :, None] * self.block_pre_activations(V)

    def predict(self, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Model output, shape (n, c)."""
        return self.block_outputs(V).sum(axis=1) - self.block_outputs(W).sum(axis=1)

    def penalty(self, V: np.ndarray, W: np.ndarray) -> float:
        """``sum ||V_bj|| + ||W_bj||`` (without alpha)."""
        return float(np.linalg.norm(V, axis=1).sum() + np.linalg.norm(W, axis=1).sum())

    def objective(self, V: np.ndarray, W: np.ndarray) -> float:
        return self.loss.value(self.predict(V, W), self.Y) + self.alpha * self.penalty(V, W)

    def constraint_violation(self, V: np.ndarray, W: np.ndarray) -> float:
        """Largest violation of the cone and coupling constraints."""
        worst = 0.0
        mixed = self.blocks.mixed
        for Z in (V, W):
            XZ = np.einsum("nd,adc->nac", self.X, Z)
            worst = max(worst, float(np.max(-(self._cone_sign[:, :, None] * XZ), initial=0.0)))
            Hb = self.block_pre_activations(Z)[:, mixed]
            S2 = 2.0 * self._D2[:, mixed] - 1.0
            worst = max(worst, float(np.max(-(S2[:, :, None] * Hb), initial=0.0)))
        return worst
