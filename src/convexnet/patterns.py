"""Activation patterns of two-layer ReLU networks (SPEC §1.2; [PE20]; Cover 1965).

For data ``X`` (``n x d``, rows ``x_i``) an *activation pattern* is the 0/1 vector
``1[X u >= 0]`` for some ``u`` in ``R^d``.  The convex programs of [PE20] (SPEC §1.3-1.5)
need one variable block per pattern.  Patterns of the *open cells* of the hyperplane
arrangement ``{u : x_i^T u = 0}`` suffice (SPEC §1.2, "open cells suffice"), so every pattern
returned here comes with a *generator* ``g`` that lies strictly inside its open cell:
``1[X g >= 0]`` equals the pattern exactly in float64 and every row with ``x_i != 0`` has
``|x_i^T g| >= margin * ||x_i|| * ||g||`` for a positive margin (rows that are exactly zero
are active for every ``u``).

Three ways to obtain patterns:

* :func:`enumerate_patterns` -- exact enumeration of every open cell (``is_complete=True``).
  The data are reduced to their row space of rank ``r`` and enumerated there:
  ``r <= 2`` by critical angles, ``r = 3`` by the vertices of the arrangement of great
  circles on the sphere, linearly independent hyperplanes directly (all ``2^n`` sign vectors),
  and ``r > 3`` by the incremental linear programs of SPEC §1.2.
* :func:`sample_patterns` -- ``u ~ N(0, I_d)`` sampling, de-duplicated (``is_complete=False``).
* :func:`merge_patterns` / :func:`unique_patterns` -- de-duplication and union of pattern sets.

:func:`count_bound` gives the counting bounds of Cover (1965) used to refuse enumerations that
would not fit in memory.

Numerical resolution. Rows are compared after normalisation; hyperplanes closer than ``1e-10``
(relative) are treated as one, planes passing within ``1e-10`` of a common line as concurrent,
and the row space is cut at singular values ``1e-10`` times the largest. Cells thinner than
about that may therefore be missed on nearly degenerate data; every pattern returned is exact
(its generator is checked on the original ``X``). When an internal consistency check fails
(a predicted cell not found, a cell count that disagrees with Euler's formula) a
``RuntimeWarning`` is issued and ``is_complete`` is set to False.

References: [PE20] M. Pilanci, T. Ergen, *Neural Networks are Convex Regularizers*, ICML 2020;
T. M. Cover, *Geometrical and statistical properties of systems of linear inequalities with
applications in pattern recognition*, IEEE Trans. Electron. Comput., 1965.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import linprog
from sklearn.utils import check_random_state

from ._validation import as_matrix, check_positive_int, physical_memory

__all__ = [
    "ActivationPatterns",
    "PatternCountBound",
    "count_bound",
    "enumerate_patterns",
    "merge_patterns",
    "sample_patterns",
    "unique_patterns",
]

# Numerical tolerances (all relative: rows and generators are normalised to unit length).
_RANK_RTOL = 1e-10  # singular values of the row-normalised data below this * largest are zero
_PARALLEL_TOL = 1e-10  # unit rows closer than this (up to sign) define the same hyperplane
_ANGLE_TOL = 1e-10  # critical angles closer than this are the same (2-D method)
_VERTEX_TOL = 1e-10  # a great circle with |c^T v| <= this passes through the vertex v
_LP_TOL = 1e-9  # an LP cell with inscribed margin t* <= this is treated as empty
_KNOWN_SIGN_TOL = 1e-7  # |c^T u| above this: the sign of a new row at u needs no LP
_CANDIDATE_MARGIN = 1e-12  # rank-3 candidate generators below this margin are dropped
MIN_MARGIN = 1e-13  # generators are checked to have at least this relative margin
GENERATOR_BLOCK = 512  # generators turned into patterns at a time (patterns_from_generators)
_DEFAULT_MAX_LPS = 200_000
_CHUNK_ELEMS = 1 << 22  # about 4 million entries per working block


# ----------------------------------------------------------------------------------------
# The result type
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ActivationPatterns:
    """A set of distinct activation patterns ``D_j = 1[X g_j >= 0]`` with their generators.

    Attributes
    ----------
    D : ndarray of bool, shape (n_samples, n_patterns)
        Column ``j`` is the diagonal of ``D_j`` (SPEC §0.3), ``1[X g_j >= 0]``.
    generators : ndarray of float64, shape (n_features, n_patterns)
        Column ``j`` is a unit vector ``g_j`` strictly inside the open cell of pattern ``j``:
        ``1[X g_j >= 0] == D[:, j]`` exactly in float64, with a positive relative margin on
        every non-zero row (see :meth:`margins`).
    is_complete : bool
        True only when the set was produced by exact enumeration and therefore contains the
        pattern of every open cell of the arrangement ``{x_i^T u = 0}`` (SPEC §1.2).
    method : str
        How the set was produced (``"rank0"``, ``"rank1"``, ``"angles"``, ``"vertices"``,
        ``"independent"``, ``"lp"``, ``"sampled"``, ``"merged"``, ...).
    """

    D: np.ndarray
    generators: np.ndarray
    is_complete: bool
    method: str

    def __post_init__(self) -> None:
        D = np.asarray(self.D)
        G = np.asarray(self.generators, dtype=np.float64)
        if D.ndim != 2:
            raise ValueError(f"D must be 2-D (n_samples, n_patterns), got shape {D.shape}.")
        if G.ndim != 2:
            raise ValueError(
                f"generators must be 2-D (n_features, n_patterns), got shape {G.shape}."
            )
        if D.shape[1] != G.shape[1]:
            raise ValueError(
                f"D has {D.shape[1]} patterns but generators has {G.shape[1]} columns."
            )
        if not np.all(np.isfinite(G)):
            raise ValueError("generators contains NaN or infinity.")
        if D.dtype != bool:
            if not np.all((D == 0) | (D == 1)):
                raise ValueError("D must contain only 0/1 (or boolean) entries.")
            D = D.astype(bool)
        object.__setattr__(self, "D", D)
        object.__setattr__(self, "generators", G)
        object.__setattr__(self, "is_complete", bool(self.is_complete))
        object.__setattr__(self, "method", str(self.method))

    @property
    def n_patterns(self) -> int:
        """Number of patterns ``P``."""
        return int(self.D.shape[1])

    @property
    def n_samples(self) -> int:
        """Number of data rows ``n``."""
        return int(self.D.shape[0])

    @property
    def n_features(self) -> int:
        """Dimension ``d`` of the generators."""
        return int(self.generators.shape[0])

    def __len__(self) -> int:
        return self.n_patterns

    def __repr__(self) -> str:
        return (
            f"ActivationPatterns(n_patterns={self.n_patterns}, n_samples={self.n_samples}, "
            f"n_features={self.n_features}, is_complete={self.is_complete}, "
            f"method={self.method!r})"
        )

    def subset(self, idx) -> ActivationPatterns:
        """The patterns selected by ``idx`` (integer indices or a boolean mask).

        ``is_complete`` is kept only if every pattern is still present.
        """
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (self.n_patterns,):
                raise ValueError(
                    f"idx: boolean mask must have shape ({self.n_patterns},), got {idx.shape}."
                )
            idx = np.flatnonzero(idx)
        elif idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise TypeError("idx must be integer indices or a boolean mask.")
        idx = idx.astype(np.intp).ravel()
        if idx.size and (idx.min() < -self.n_patterns or idx.max() >= self.n_patterns):
            raise IndexError(f"idx out of range for {self.n_patterns} patterns.")
        D, G, _ = unique_patterns(self.D[:, idx], self.generators[:, idx])
        complete = self.is_complete and D.shape[1] == self.n_patterns
        return ActivationPatterns(D, G, complete, self.method)

    def without_zero_pattern(self) -> ActivationPatterns:
        """Drop the all-zero pattern (it contributes ``D X u = 0`` to every program).

        ``is_complete`` is kept: the remaining set still covers every useful pattern.
        """
        keep = self.D.any(axis=0)
        if keep.all():
            return self
        return ActivationPatterns(
            self.D[:, keep], self.generators[:, keep], self.is_complete, self.method
        )

    def margins(self, X) -> np.ndarray:
        """Relative margin of each generator on ``X``.

        Returns, for each pattern ``j``, ``min_i |x_i^T g_j| / (||x_i|| ||g_j||)`` over the
        non-zero rows of ``X`` (``inf`` if every row is zero).
        """
        X = as_matrix(X, "X")
        self._check_shape(X)
        Xn, nz = _normalise_rows(X)
        out = np.full(self.n_patterns, np.inf)
        if not nz.any() or self.n_patterns == 0:
            return out
        gn = np.linalg.norm(self.generators, axis=0)
        gn[gn == 0] = 1.0
        Xz = Xn[nz]
        step = max(1, _CHUNK_ELEMS // Xz.shape[0])
        for s in range(0, self.n_patterns, step):
            H = np.abs(Xz @ self.generators[:, s : s + step])
            out[s : s + step] = H.min(axis=0) / gn[s : s + step]
        return out

    def reproduces(self, X) -> bool:
        """True iff ``1[X g_j >= 0] == D[:, j]`` for every pattern ``j``."""
        X = as_matrix(X, "X")
        self._check_shape(X)
        step = max(1, _CHUNK_ELEMS // X.shape[0])
        for s in range(0, self.n_patterns, step):
            if not np.array_equal(
                X @ self.generators[:, s : s + step] >= 0, self.D[:, s : s + step]
            ):
                return False
        return True

    def _check_shape(self, X: np.ndarray) -> None:
        if X.shape != (self.n_samples, self.n_features):
            raise ValueError(
                f"X has shape {X.shape} but the patterns were computed for data of shape "
                f"({self.n_samples}, {self.n_features})."
            )


# ----------------------------------------------------------------------------------------
# Counting bounds
# ----------------------------------------------------------------------------------------


class PatternCountBound(NamedTuple):
    """Upper bounds on the number ``P`` of activation patterns (SPEC §1.2).

    ``cover`` is ``2 * sum_{k=0}^{r-1} binom(n-1, k)`` (Cover 1965, Winder 1966; equality when
    the rows are in general position), ``loose`` is ``2 r (e (n-1) / r)^r`` (valid for
    ``n - 1 >= r``; otherwise it is set equal to ``cover``).
    """

    cover: int
    loose: float


def count_bound(n: int, rank: int) -> PatternCountBound:
    """Bounds on the number of activation patterns of ``n`` rows of rank ``rank``.

    ``P <= 2 * sum_{k=0}^{r-1} binom(n-1, k) <= 2 r (e (n-1) / r)^r`` (SPEC §1.2, after
    Cover 1965). The first bound is attained when the rows are in general position. For
    ``rank = 0`` there is exactly one pattern (all ones).
    """
    n = check_positive_int(n, "n")
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer):
        raise TypeError(f"rank must be an integer, got {type(rank).__name__}.")
    rank = int(rank)
    if rank < 0:
        raise ValueError(f"rank must be non-negative, got {rank}.")
    if rank > n:
        raise ValueError(f"rank must be at most n={n}, got {rank}.")
    if rank == 0:
        return PatternCountBound(1, 1.0)
    cover = 2 * sum(math.comb(n - 1, k) for k in range(rank))
    if n - 1 >= rank:
        try:
            loose = 2.0 * rank * math.exp(rank * math.log(math.e * (n - 1) / rank))
        except OverflowError:
            loose = math.inf
    else:
        loose = float(cover)
    return PatternCountBound(cover, loose)


def _default_max_memory() -> int:
    total = physical_memory()
    return total // 4 if total else 4 << 30


def _bytes_per_pattern(n: int, d: int) -> int:
    # n bytes for a column of D, 8 d for a generator, and working memory (packed keys,
    # sorting, candidate generators before de-duplication).
    return 2 * n + 8 * d + 64


def _fmt_bytes(b: float) -> str:
    if b >= 1 << 30:
        return f"{b / (1 << 30):.2f} GiB"
    return f"{b / (1 << 20):.2f} MiB"


def _lp_count_estimate(m: int, r: int) -> int:
    """Upper bound on the LPs solved by the incremental method on ``m`` hyperplanes."""
    total = 0
    for k in range(1, m):
        total += count_bound(k, min(r, k)).cover // 2
        if total > 10**12:
            break
    return total


# ----------------------------------------------------------------------------------------
# De-duplication
# ----------------------------------------------------------------------------------------


def _pack_columns(D: np.ndarray) -> np.ndarray:
    """One opaque key per column of a boolean matrix (for ``np.unique``)."""
    packed = np.packbits(np.ascontiguousarray(D.T), axis=1)
    packed = np.ascontiguousarray(packed)
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def _pack_rows(S: np.ndarray) -> np.ndarray:
    packed = np.ascontiguousarray(np.packbits(S, axis=1))
    return packed


def _first_unique(keys: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct key, in order of appearance."""
    if keys.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    if keys.ndim == 2:
        keys = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, idx = np.unique(keys, return_index=True)
    return np.sort(idx)


def unique_patterns(D, generators) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove duplicate patterns, keeping the first generator of each.

    Parameters
    ----------
    D : array of 0/1 or bool, shape (n_samples, n_columns)
    generators : array, shape (n_features, n_columns)

    Returns
    -------
    D_unique, generators_unique, index
        The distinct columns in order of first appearance, and their indices in the input.
    """
    D = np.asarray(D)
    G = np.asarray(generators, dtype=np.float64)
    if D.ndim != 2 or G.ndim != 2:
        raise ValueError("D and generators must both be 2-D arrays.")
    if D.shape[1] != G.shape[1]:
        raise ValueError(f"D has {D.shape[1]} columns but generators has {G.shape[1]}.")
    if D.dtype != bool:
        if not np.all((D == 0) | (D == 1)):
            raise ValueError("D must contain only 0/1 (or boolean) entries.")
        D = D.astype(bool)
    idx = _first_unique(_pack_columns(D)) if D.shape[1] else np.zeros(0, dtype=np.intp)
    return D[:, idx], G[:, idx], idx


def merge_patterns(*pattern_sets: ActivationPatterns) -> ActivationPatterns:
    """Union of pattern sets computed on the same data, de-duplicated.

    The first generator of each pattern is kept. The union is complete if any input is.
    """
    if not pattern_sets:
        raise ValueError("merge_patterns needs at least one ActivationPatterns.")
    for k, p in enumerate(pattern_sets):
        if not isinstance(p, ActivationPatterns):
            raise TypeError(
                f"pattern_sets[{k}] must be ActivationPatterns, got {type(p).__name__}."
            )
    n, d = pattern_sets[0].n_samples, pattern_sets[0].n_features
    for k, p in enumerate(pattern_sets):
        if (p.n_samples, p.n_features) != (n, d):
            raise ValueError(
                f"pattern_sets[{k}] was computed for data of shape ({p.n_samples}, "
                f"{p.n_features}), not ({n}, {d})."
            )
    D, G, _ = unique_patterns(
        np.concatenate([p.D for p in pattern_sets], axis=1),
        np.concatenate([p.generators for p in pattern_sets], axis=1),
    )
    complete = any(p.is_complete for p in pattern_sets)
    methods = list(dict.fromkeys(p.method for p in pattern_sets))
    method = methods[0] if len(methods) == 1 else "merged(" + ",".join(methods) + ")"
    return ActivationPatterns(D, G, complete, method)


# ----------------------------------------------------------------------------------------
# Geometry helpers
# ----------------------------------------------------------------------------------------


def _normalise_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows (overflow/underflow safe) and the mask of non-zero rows."""
    scale = np.abs(X).max(axis=1)
    nz = scale > 0
    Xn = np.zeros_like(X)
    Y = X[nz] / scale[nz, None]
    Xn[nz] = Y / np.linalg.norm(Y, axis=1)[:, None]
    return Xn, nz


def _row_space(U: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d x r) of the numerical row space of unit rows ``U``."""
    if U.shape[0] == 0:
        return np.zeros((U.shape[1], 0))
    _, s, Vt = np.linalg.svd(U, full_matrices=False)
    r = int(np.sum(s > _RANK_RTOL * s[0]))
    return Vt[:r].T.copy()


def _group_lines(Z: np.ndarray, *, merge: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group unit rows lying on the same hyperplane (equal up to sign).

    Returns ``C`` (m x r unit normals, one per distinct hyperplane), ``label`` (row -> group)
    and ``sign`` (``Z[i] ~= sign[i] * C[label[i]]``). Exact duplicates (up to sign and
    rounding to 1e-12) are grouped by sorting; with ``merge`` the representatives closer than
    ``_PARALLEL_TOL`` are then merged (quadratic in their number).
    """
    k = Z.shape[0]
    piv = np.argmax(np.abs(Z), axis=1)
    flip = np.where(Z[np.arange(k), piv] < 0, -1.0, 1.0)
    Zc = Z * flip[:, None]
    _, first, inv = np.unique(np.round(Zc * 1e12), axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    R = Zc[first]
    mu = R.shape[0]
    if merge:
        glab = -np.ones(mu, dtype=np.intp)
        m = 0
        for i in range(mu):
            if glab[i] >= 0:
                continue
            close = (np.linalg.norm(R - R[i], axis=1) <= _PARALLEL_TOL) | (
                np.linalg.norm(R + R[i], axis=1) <= _PARALLEL_TOL
            )
            glab[close & (glab < 0)] = m
            m += 1
        _, rep = np.unique(glab, return_index=True)  # first member of each group
        C = R[rep]
    else:
        glab = np.arange(mu)
        C = R
    label = glab[inv]
    sign = np.where(np.einsum("ij,ij->i", Z, C[label]) >= 0, 1.0, -1.0)
    return C, label, sign


def _angles_2d(P2: np.ndarray) -> np.ndarray:
    """Unit generators of the open cells of the lines ``{p_k^T w = 0}`` in the plane.

    Critical angles ``phi_k +- pi/2`` sorted modulo ``2 pi``; one generator at the midpoint of
    each gap wider than ``_ANGLE_TOL`` (SPEC §1.2, "d = 2, by angles").
    """
    phi = np.arctan2(P2[:, 1], P2[:, 0])
    crit = np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi)
    crit.sort()
    gaps = np.diff(np.append(crit, crit[0] + 2 * np.pi))
    keep = gaps > _ANGLE_TOL
    mid = crit[keep] + gaps[keep] / 2
    return np.column_stack([np.cos(mid), np.sin(mid)])


class _BestPerCell:
    """Collects candidate generators; keeps, per cell, the one with the largest margin.

    The cell of a candidate ``g`` is read off its actual signs ``C g > 0`` (not the intended
    ones), and candidates with a relative margin ``min_k |c_k^T g| / ||g||`` below
    ``_CANDIDATE_MARGIN`` are dropped, so every kept generator is valid by construction.
    """

    def __init__(self, C: np.ndarray) -> None:
        self.C = C
        self.keys: list[np.ndarray] = []
        self.gens: list[np.ndarray] = []
        self.margins: list[np.ndarray] = []
        self.intended: list[np.ndarray] = []

    @staticmethod
    def _best(keys, gens, margins):
        order = np.argsort(-margins, kind="stable")
        keys, gens, margins = keys[order], gens[order], margins[order]
        idx = _first_unique(keys)
        return keys[idx], gens[idx], margins[idx]

    def add(self, G: np.ndarray) -> None:
        H = G @ self.C.T
        margin = np.abs(H).min(axis=1) / np.linalg.norm(G, axis=1)
        ok = margin >= _CANDIDATE_MARGIN
        if not ok.any():
            return
        k, g, mg = self._best(_pack_rows(H[ok] > 0), G[ok], margin[ok])
        self.keys.append(k)
        self.gens.append(g)
        self.margins.append(mg)

    def expect(self, S: np.ndarray) -> None:
        """Record sign vectors (bool rows) that the construction meant to produce."""
        keys = _pack_rows(S)
        self.intended.append(keys[_first_unique(keys)])

    def result(self) -> tuple[np.ndarray, int]:
        """Generators (one per cell) and the number of intended cells not found."""
        if not self.keys:
            return np.zeros((0, self.C.shape[1])), len(self.intended)
        keys, g, _ = self._best(
            np.concatenate(self.keys), np.concatenate(self.gens), np.concatenate(self.margins)
        )
        missing = 0
        if self.intended:
            allk = np.concatenate([keys, *self.intended])
            union = _first_unique(allk)
            lost = union[union >= keys.shape[0]]
            if lost.size:
                g, missing = self._rescue(allk[lost], g)
        return g, missing

    def _rescue(self, lost: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, int]:
        """Decide expected-but-unfound sign vectors by a max-margin LP each (there are none
        unless the data are numerically degenerate). Returns the generators with the cells
        found added, and the number of cells that the LP calls non-empty but that no
        generator with margin ``_CANDIDATE_MARGIN`` could be built for."""
        m = self.C.shape[0]
        if lost.shape[0] > 10_000:
            return g, lost.shape[0]
        extra, missing = [], 0
        for key in lost:
            S = np.unpackbits(key, count=m).astype(bool)
            A = np.where(S, 1.0, -1.0)[:, None] * self.C
            t, u = _max_margin_lp(A)
            if u is not None and np.linalg.norm(u) > 0:
                u = u / np.linalg.norm(u)
                if np.min(A @ u) >= _CANDIDATE_MARGIN:
                    extra.append(u)
                    continue
            if t > _LP_TOL:
                missing += 1
        if extra:
            g = np.concatenate([g, np.array(extra)])
        return g, missing


def _cells_rank3(C: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Open cells of the arrangement of ``m >= 3`` distinct great circles spanning ``R^3``.

    Every cell has a vertex ``v = +-(c_a x c_b)/||c_a x c_b||``. At a vertex through exactly two
    circles (generic case, vectorised) the four cells are ``v + delta (s_a e_a + s_b e_b)``
    with the dual tangent vectors ``e_a, e_b``; at a vertex through ``k >= 3`` circles the
    cells around it come from the 2-D angle method in the tangent plane. ``delta`` is chosen
    so that no circle outside the vertex changes sign. Each cell is reached from each of its
    vertices; the candidate with the largest margin is kept. Returns generators (P x 3), the
    number of cells predicted by Euler's formula ``F = 2 + 2 sum_v (k_v - 1)`` (sum over
    antipodal pairs of vertices, ``k_v`` circles through ``v``; 0 when nearly concurrent circles
    make it unavailable), and the number of sign vectors expected around some vertex but not
    found (0 unless the data are numerically degenerate).
    """
    m = C.shape[0]
    ia, ib = np.triu_indices(m, 1)
    step = max(1, _CHUNK_ELEMS // (8 * m))
    best = _BestPerCell(C)
    euler_sum = 0
    deg_a: list[np.ndarray] = []
    deg_b: list[np.ndarray] = []
    deg_v: list[np.ndarray] = []
    for start in range(0, ia.size, step):
        a = ia[start : start + step]
        b = ib[start : start + step]
        rows = np.arange(a.size)
        ca, cb = C[a], C[b]
        w = np.cross(ca, cb)
        v = w / np.linalg.norm(w, axis=1)[:, None]
        ea = np.cross(cb, v)
        ea /= np.einsum("ij,ij->i", ca, ea)[:, None]  # c_a.e_a = 1, c_b.e_a = 0, v.e_a = 0
        eb = np.cross(ca, v)
        eb /= np.einsum("ij,ij->i", cb, eb)[:, None]
        # one refinement step: make c_a.v and c_b.v zero to working precision
        v = (
            v
            - ea * np.einsum("ij,ij->i", ca, v)[:, None]
            - eb * np.einsum("ij,ij->i", cb, v)[:, None]
        )
        v /= np.linalg.norm(v, axis=1)[:, None]
        H = v @ C.T
        A = np.abs(H)
        through = A <= _VERTEX_TOL
        through[rows, a] = True
        through[rows, b] = True
        gen = through.sum(axis=1) == 2
        deg = np.flatnonzero(~gen)
        if deg.size:  # vertices through >= 3 circles: after the loop
            deg_a.append(a[deg])
            deg_b.append(b[deg])
            deg_v.append(v[deg])
        # ---- generic vertices, vectorised
        if not gen.any():
            continue
        g_idx = np.flatnonzero(gen)
        euler_sum += g_idx.size
        a_g, b_g, r_g = a[g_idx], b[g_idx], np.arange(g_idx.size)
        vg, eag, ebg = v[g_idx], ea[g_idx], eb[g_idx]
        W = np.abs(eag @ C.T) + np.abs(ebg @ C.T)  # bounds |c_k.(s_a e_a + s_b e_b)|
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(W > 0, A[g_idx] / W, np.inf)
        ratio[r_g, a_g] = np.inf
        ratio[r_g, b_g] = np.inf
        delta = np.minimum(0.5 * ratio.min(axis=1), 1.0)[:, None]
        cand = [
            sv * vg + delta * (sa * eag + sb * ebg)
            for sv in (1.0, -1.0)
            for sa in (1.0, -1.0)
            for sb in (1.0, -1.0)
        ]
        best.add(np.concatenate(cand))
        base = H[g_idx] > 0
        intended = []
        for sv in (True, False):
            for sa in (True, False):
                for sb in (True, False):
                    S = base.copy() if sv else ~base
                    S[r_g, a_g] = sa
                    S[r_g, b_g] = sb
                    intended.append(S)
        best.expect(np.concatenate(intended))
    euler_ok = True
    if deg_a:
        extra = _degenerate_vertices(
            C, np.concatenate(deg_a), np.concatenate(deg_b), np.concatenate(deg_v), best
        )
        euler_ok = extra >= 0
        euler_sum += max(extra, 0)
    G, missing = best.result()
    return G, (2 + 2 * euler_sum if euler_ok else 0), missing


def _degenerate_vertices(
    C: np.ndarray, a: np.ndarray, b: np.ndarray, v: np.ndarray, best: _BestPerCell
) -> int:
    """Process the vertices through ``k >= 3`` circles; return their sum of ``k - 1``, or
    -1 if the second pass below was needed (Euler's count is then not available).

    A vertex is processed once, by the pair of the two smallest circles through it. With
    nearly concurrent circles the sets "through v" seen from different pairs can disagree; a
    second pass therefore processes every pair whose vertex no processed vertex covers (same
    point up to 1e-6, both circles through it).
    """
    H = v @ C.T
    through = np.abs(H) <= _VERTEX_TOL
    rows = np.arange(a.size)
    through[rows, a] = True
    through[rows, b] = True
    registry: dict[tuple[int, int], list[int]] = {}
    processed: list[np.ndarray] = []
    euler_sum = 0
    exact_euler = True

    def _process(j: int, Zidx: np.ndarray) -> None:
        nonlocal euler_sum
        euler_sum += Zidx.size - 1
        G, S = _cells_around_vertex(C, v[j], H[j], Zidx)
        best.add(G)
        best.expect(S)
        processed.append(v[j])
        k = len(processed) - 1
        for p, q in zip(*np.triu_indices(Zidx.size, 1)):
            registry.setdefault((int(Zidx[p]), int(Zidx[q])), []).append(k)

    done = np.zeros(a.size, dtype=bool)
    for j in range(a.size):
        Zidx = np.flatnonzero(through[j])
        if Zidx[0] == a[j] and Zidx[1] == b[j]:
            _process(j, Zidx)
            done[j] = True
    for j in np.flatnonzero(~done):
        covered = any(
            min(np.linalg.norm(v[j] - processed[k]), np.linalg.norm(v[j] + processed[k])) <= 1e-6
            for k in registry.get((int(a[j]), int(b[j])), ())
        )
        if not covered:
            _process(j, np.flatnonzero(through[j]))
            exact_euler = False
    return euler_sum if exact_euler else -1


def _cells_around_vertex(
    C: np.ndarray, v: np.ndarray, h: np.ndarray, Zidx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate generators of the cells around ``v`` and ``-v``, through the circles
    ``Zidx`` (k >= 3), from the 2-D angle method in the tangent plane, and the sign vectors
    they are meant to have."""
    m = C.shape[0]
    t1 = C[Zidx[0]] - (C[Zidx[0]] @ v) * v
    t1 /= np.linalg.norm(t1)
    t2 = np.cross(v, t1)
    P2 = np.column_stack([C[Zidx] @ t1, C[Zidx] @ t2])
    W2 = _angles_2d(P2)
    W3 = W2[:, :1] * t1 + W2[:, 1:] * t2  # unit tangent directions, one per local cell
    others = np.ones(m, dtype=bool)
    others[Zidx] = False
    hw = np.abs(W3 @ C[others].T)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hw > 0, np.abs(h[others])[None, :] / hw, np.inf)
    delta = np.minimum(0.5 * ratio.min(axis=1, initial=np.inf), 1.0)[:, None]
    local = (P2 @ W2.T > 0).T  # (cells x k)
    S = np.empty((2 * W2.shape[0], m), dtype=bool)
    S[: W2.shape[0], others] = (h[others] > 0)[None, :]
    S[W2.shape[0] :, others] = (h[others] < 0)[None, :]
    S[:, Zidx] = np.concatenate([local, local])
    return np.concatenate([v + delta * W3, -v + delta * W3]), S


def _cells_independent(C: np.ndarray) -> np.ndarray:
    """Generators (P x m) of all ``2^m`` cells of ``m`` linearly independent hyperplanes."""
    m = C.shape[0]
    bits = (np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1
    S = np.where(bits == 1, 1.0, -1.0)
    return np.linalg.solve(C, S.T).T  # C u = s


def _max_margin_lp(A: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Solve ``max t s.t. A u >= t, -1 <= u <= 1, t <= 1`` (rows of A are signed normals)."""
    k, r = A.shape
    c = np.zeros(r + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-A, np.ones((k, 1))])
    res = linprog(
        c,
        A_ub=A_ub,
        b_ub=np.zeros(k),
        bounds=[(-1.0, 1.0)] * r + [(None, 1.0)],
        method="highs-ds",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    if res.status != 0 or res.x is None:
        return 0.0, None
    return float(-res.fun), res.x[:r]


def _cells_lp(C: np.ndarray) -> tuple[np.ndarray, int]:
    """Incremental LP enumeration (SPEC §1.2) over distinct hyperplanes ``C`` (m x r).

    Keeps the sign vectors of non-empty open cells row by row, with the first sign fixed to
    ``+`` (the symmetry ``s -> -s`` gives the rest). A new row's sign at the current generator
    needs no LP; the opposite sign is tested by a max-margin LP. Returns generators (P x r)
    and the number of LPs solved.
    """
    m, r = C.shape
    S = np.ones((1, 1))
    U = C[:1].copy()
    n_lp = 0
    for k in range(1, m):
        ck = C[k]
        vals = U @ ck
        newS, newU = [], []
        for i in range(S.shape[0]):
            s, u, val = S[i], U[i], vals[i]
            if abs(val) > _KNOWN_SIGN_TOL:
                known = 1.0 if val > 0 else -1.0
                newS.append(np.append(s, known))
                newU.append(u)
                todo = (-known,)
            else:
                todo = (1.0, -1.0)
            for sigma in todo:
                sk = np.append(s, sigma)
                A = sk[:, None] * C[: k + 1]
                t, u_new = _max_margin_lp(A)
                n_lp += 1
                if t <= _LP_TOL or u_new is None:
                    continue
                nrm = np.linalg.norm(u_new)
                if nrm == 0 or np.min(A @ u_new) <= 0:
                    continue
                newS.append(sk)
                newU.append(u_new / nrm)
        S = np.array(newS)
        U = np.array(newU)
    return np.concatenate([U, -U]), n_lp


# ----------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------


def _finalise(
    X: np.ndarray,
    Vr: np.ndarray,
    coords: np.ndarray,
    expected: int,
    method: str,
    missing: int = 0,
) -> ActivationPatterns:
    """Map generators from the row space back to ``R^d``, recompute ``D`` on the original
    ``X`` and check the count and the margins."""
    n = X.shape[0]
    G = Vr @ coords.T if coords.size else np.zeros((X.shape[1], 0))
    G = G / np.linalg.norm(G, axis=0)[None, :]
    step = max(1, _CHUNK_ELEMS // n)
    D = np.empty((n, G.shape[1]), dtype=bool)
    for s in range(0, G.shape[1], step):
        D[:, s : s + step] = X @ G[:, s : s + step] >= 0
    D, G, _ = unique_patterns(D, G)
    result = ActivationPatterns(D, G, True, method)
    ok = D.shape[1] >= max(expected, coords.shape[0]) and missing == 0
    margin = result.margins(X).min(initial=np.inf)
    if not ok or margin < MIN_MARGIN:
        warnings.warn(
            f"enumerate_patterns ({method}): found {D.shape[1]} distinct patterns where the "
            f"arrangement predicts {expected} ({missing} expected sign vectors not found), "
            f"smallest relative margin {margin:.2e}. The data "
            "are numerically degenerate (nearly parallel rows or nearly concurrent hyperplanes);"
            " the result is marked incomplete.",
            RuntimeWarning,
            stacklevel=3,
        )
        result = ActivationPatterns(D, G, False, method)
    return result


def enumerate_patterns(
    X,
    *,
    max_patterns: int | None = None,
    max_memory_bytes: int | None = None,
    max_lps: int = _DEFAULT_MAX_LPS,
) -> ActivationPatterns:
    """Every activation pattern ``1[X u >= 0]`` of an open cell, with a generator each.

    Exact enumeration of the open cells of the hyperplane arrangement ``{x_i^T u = 0}``
    (SPEC §1.2, [PE20]); the result has ``is_complete=True``. The rows are normalised and
    ``X`` is reduced to its numerical row space of rank ``r`` (SVD, relative tolerance
    ``1e-10``); the cells are enumerated there and the generators mapped back to ``R^d``,
    where ``D = 1[X g >= 0]`` is recomputed on the original ``X``. Methods:

    * ``r = 0``: one pattern (all ones); ``r = 1``: two cells;
    * ``r = 2``: critical angles ``phi_i +- pi/2`` and the midpoints between them;
    * ``r = 3``: the vertices of the arrangement of great circles on the sphere (each cell has
      one); generic vertices vectorised, degenerate ones by the 2-D method in the tangent plane;
    * linearly independent hyperplanes (any ``r``): all ``2^n`` sign vectors;
    * ``r > 3``: incremental max-margin linear programs (HiGHS), one new row at a time, with the
      symmetry ``s -> -s``; for small problems only.

    Rows that are exactly zero are active in every pattern. The all-zero pattern is kept.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    max_patterns : int, optional
        Refuse (``ValueError``) if the Cover bound on the number of patterns exceeds this.
    max_memory_bytes : int, optional
        Refuse if the bound times the memory per pattern (``n`` bytes for ``D``, ``8 d`` for the
        generator, plus working memory) exceeds this. Default: 25% of physical memory.
    max_lps : int, default 200000
        For ``r > 3``, refuse if the number of linear programs could exceed this.

    Returns
    -------
    ActivationPatterns

    Raises
    ------
    ValueError
        Bad input, or an enumeration too large; the message gives the pattern count bound and
        the memory, and how to shrink the problem.
    """
    X = _as_data(X)
    if max_patterns is not None:
        max_patterns = check_positive_int(max_patterns, "max_patterns")
    if max_memory_bytes is None:
        max_memory_bytes = _default_max_memory()
    else:
        max_memory_bytes = check_positive_int(max_memory_bytes, "max_memory_bytes")
    max_lps = check_positive_int(max_lps, "max_lps")
    n, d = X.shape

    Xn, nz = _normalise_rows(X)
    Vr = _row_space(Xn[nz])
    r = Vr.shape[1]
    if r == 0:
        g = np.zeros((d, 1))
        g[0, 0] = 1.0
        return ActivationPatterns(np.ones((n, 1), dtype=bool), g, True, "rank0")
    Z = Xn[nz] @ Vr
    Z /= np.linalg.norm(Z, axis=1)[:, None]

    C, m = None, int(nz.sum())
    if r >= 3:
        # the number of distinct hyperplanes up to rounding bounds m from above; merge nearly
        # parallel ones only when the enumeration may go ahead
        C, _, _ = _group_lines(Z, merge=False)
        m = C.shape[0]
    bound = count_bound(m, r).cover
    mem = bound * _bytes_per_pattern(n, d)
    if r >= 3 and ((max_patterns is None or bound <= max_patterns) and mem <= max_memory_bytes):
        C, _, _ = _group_lines(Z)
        m = C.shape[0]
        bound = count_bound(m, r).cover
        mem = bound * _bytes_per_pattern(n, d)
    advice = (
        "To shrink the problem use fewer samples, fewer features (e.g. PCA to a lower rank), "
        "or sample patterns instead with sample_patterns(X, n_samples)."
    )
    if (max_patterns is not None and bound > max_patterns) or mem > max_memory_bytes:
        limit = f"max_patterns={max_patterns}, " if max_patterns is not None else ""
        raise ValueError(
            f"Exact enumeration of activation patterns refused: X has {n} samples "
            f"({m} distinct hyperplanes) of rank {r}, so it may have up to {bound:,} patterns "
            f"(Cover bound), needing about {_fmt_bytes(mem)} of memory ({limit}"
            f"max_memory_bytes={_fmt_bytes(max_memory_bytes)}). {advice}"
        )

    if r == 1:
        coords = np.array([[1.0], [-1.0]])
        return _finalise(X, Vr, coords, 2, "rank1")
    if r == 2:
        coords = _angles_2d(Z)
        return _finalise(X, Vr, coords, coords.shape[0], "angles")
    if m == r:
        coords = _cells_independent(C)
        return _finalise(X, Vr, coords, 2**m, "independent")
    if r == 3:
        coords, expected, missing = _cells_rank3(C)
        return _finalise(X, Vr, coords, expected, "vertices", missing)
    n_lp = _lp_count_estimate(m, r)
    if n_lp > max_lps:
        raise ValueError(
            f"Exact enumeration of activation patterns refused: X has rank {r} > 3 and {m} "
            f"distinct hyperplanes, so it may have up to {bound:,} patterns (Cover bound) and "
            f"the incremental LP method could need about {n_lp:,} linear programs "
            f"(max_lps={max_lps:,}). {advice}"
        )
    coords, _ = _cells_lp(C)
    return _finalise(X, Vr, coords, coords.shape[0], "lp")


def _as_data(X) -> np.ndarray:
    """``as_matrix(X, "X")``, with infinite entries reported as a ``ValueError``."""
    try:
        return as_matrix(X, "X")
    except TypeError as exc:
        if "infinity" in str(exc):
            raise ValueError(f"X contains NaN or infinity: {exc}") from exc
        raise


def _as_generator(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    return check_random_state(random_state)


def sample_patterns(X, n_samples: int, *, random_state=None) -> ActivationPatterns:
    """Activation patterns ``1[X u >= 0]`` of ``n_samples`` Gaussian draws ``u ~ N(0, I_d)``.

    De-duplicated, keeping the first generator of each pattern (SPEC §1.2, "Sampling"). A cell
    is hit with probability equal to its solid angle, so the result is in general a subset of
    the patterns: ``is_complete=False``. Generators are normalised to unit length; draws whose
    relative margin on some non-zero row is below ``MIN_MARGIN`` (probability about
    ``n * 1e-13``) are discarded.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
    n_samples : int
        Number of Gaussian draws (>= 1).
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
    """
    X = _as_data(X)
    n_samples = check_positive_int(n_samples, "n_samples")
    rng = _as_generator(random_state)
    step = max(1, _CHUNK_ELEMS // max(X.shape[0], X.shape[1]))
    sets = []
    for s in range(0, n_samples, step):
        U = rng.standard_normal((X.shape[1], min(step, n_samples - s)))
        sets.append(patterns_from_generators(X, U, method="sampled"))
    return merge_patterns(*sets)


def patterns_from_generators(X, generators, *, method: str = "generated") -> ActivationPatterns:
    """The distinct patterns ``1[X g >= 0]`` of the columns ``g`` of ``generators``.

    Generators are normalised to unit length; those whose relative margin on some non-zero row
    of ``X`` is below ``MIN_MARGIN`` (a hyperplane through the generator, where the pattern is
    ambiguous) or that are zero are discarded. The result is never marked complete.
    """
    X = _as_data(X)
    U = np.asarray(generators, dtype=np.float64)
    if U.ndim != 2 or U.shape[0] != X.shape[1]:
        raise ValueError(f"generators must have shape (n_features={X.shape[1]}, k), got {U.shape}.")
    if not np.all(np.isfinite(U)):
        raise ValueError("generators contains NaN or infinity.")
    norms = np.linalg.norm(U, axis=0)
    U = U[:, norms > 0] / norms[norms > 0][None, :]
    Xn, nz = _normalise_rows(X)
    Xz = Xn[nz]
    # In blocks of columns, each block's patterns packed to bits: the n x k products of tens
    # of thousands of pricing candidates cost seconds to allocate at n = 10000.
    kept, keys = [U[:, :0]], [np.zeros((0, (X.shape[0] + 7) // 8), dtype=np.uint8)]
    for a in range(0, U.shape[1], GENERATOR_BLOCK):
        block = U[:, a : a + GENERATOR_BLOCK]
        if Xz.shape[0]:
            block = block[:, np.abs(Xz @ block).min(axis=0) >= MIN_MARGIN]
        kept.append(block)
        keys.append(_pack_rows((X @ block >= 0).T))
    U, packed = np.concatenate(kept, axis=1), np.concatenate(keys, axis=0)
    idx = _first_unique(packed)
    D = np.unpackbits(packed[idx], axis=1, count=X.shape[0]).T.astype(bool)
    return ActivationPatterns(D, U[:, idx], False, method)
