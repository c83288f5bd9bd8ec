"""``convexnet reproduce``: the numerical experiments of the three papers (SPEC.md §5), redone
with the library and written up as a Markdown report with tables, PNG figures and CSVs.

* ``paper000``: [000] Ergen & Pilanci, *Convex Duality of Deep Neural Networks* (E000-1..5);
* ``paper001``: [001] Ergen & Pilanci, *Global Optimality Beyond Two Layers* (E001-1..3);
* ``paper002``: [002] Wang, Ergen & Pilanci, *Parallel Deep Neural Networks Have Zero Duality
  Gap* (E002-1..5).

Usage: ``reproduce(["002"], "out", quick=True)`` or ``convexnet reproduce 002 --quick --out out``.
See ``docs/reproduce.md``.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from convexnet.reproduce import paper000, paper001, paper002
from convexnet.reproduce.common import Settings, rank_one_training
from convexnet.reproduce.report import Section, write_report

__all__ = ["PAPERS", "check_out_dir", "reproduce"]

PAPERS = {"000": paper000, "001": paper001, "002": paper002}


def check_out_dir(out_dir) -> Path:
    """Create ``out_dir`` if needed and check that files can be written there; raises
    ``OSError`` with a message naming the folder otherwise."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".convexnet_write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise OSError(f"cannot write to --out {str(out)!r}: {exc.strerror or exc}") from exc
    return out


def _versions() -> str:
    import cvxpy
    import numpy
    import sklearn

    import convexnet

    parts = [
        f"convexnet {convexnet.__version__}",
        f"numpy {numpy.__version__}",
        f"scikit-learn {sklearn.__version__}",
        f"cvxpy {cvxpy.__version__}",
    ]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
    except ImportError:
        parts.append("torch not installed (non-convex baselines skipped)")
    return ", ".join(parts)


def reproduce(
    papers: Sequence[str],
    out_dir,
    quick: bool = False,
    seed: int = 0,
    online: bool = False,
    log=None,
) -> Path:
    """Run the experiments of ``papers`` (ids ``"000"``, ``"001"``, ``"002"``) and write the
    report under ``out_dir``; returns the path of ``report.md``.

    Every random draw is seeded (``seed`` seeds the training runs; instances use their
    documented seeds), BLAS and torch run on one thread, so two runs write identical CSVs
    (times go to ``timing.csv`` only). ``online=True`` lets [001]'s loaders try the network.
    ``log(message)`` is called as each paper starts and ends.
    """
    unknown = [p for p in papers if p not in PAPERS]
    if unknown:
        raise ValueError(f"unknown paper id {unknown[0]!r}; choose from {sorted(PAPERS)} or all.")
    out = check_out_dir(out_dir)
    settings = Settings(quick=quick, seed=seed)
    rank_one_training.cache_clear()  # every run trains afresh (two runs must agree)
    from threadpoolctl import threadpool_limits

    torch_threads = None
    try:
        import torch

        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    start = time.perf_counter()
    sections: list[Section] = []
    times = {}
    try:
        with threadpool_limits(limits=1), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for pid in papers:
                if log:
                    log(f"paper {pid}: running ({'quick' if quick else 'full'} mode)")
                t0 = time.perf_counter()
                mod = PAPERS[pid]
                secs = mod.run(settings, online) if pid == "001" else mod.run(settings)
                sections += secs
                times[pid] = time.perf_counter() - t0
                if log:
                    log(f"paper {pid}: done in {times[pid]:.1f} s")
    finally:
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads)
    total = time.perf_counter() - start
    seen: dict[str, int] = {}
    for w in caught:
        key = f"{w.category.__name__}: {str(w.message).splitlines()[0][:160]}"
        seen[key] = seen.get(key, 0) + 1
    mode = "quick" if quick else "full"
    header = [
        "# Reproduction report: convexnet against the papers",
        "",
        f"Command: `convexnet reproduce {' '.join(papers) if len(papers) < 3 else 'all'}"
        f"{' --quick' if quick else ''} --seed {seed}` ({mode} mode). "
        f"Machine: {platform.machine()}, Python {platform.python_version()}; {_versions()}.",
        "",
        "Total time: "
        + f"{total:.1f} s ("
        + ", ".join(f"paper {p}: {t:.1f} s" for p, t in times.items())
        + "). Tables compare our numbers with the paper's or SPEC.md's where known "
        "('not reported' otherwise); the column 'difference' is ours − reference. Every table "
        "is in `tables/`, every figure's numbers in `figures/*.csv`; times only in "
        "`timing.csv`. Mathematics and the doubts [!]/[?]: SPEC.md §2–§6; guide: "
        "docs/reproduce.md.",
    ]
    if seen:
        header += ["", "Warnings raised during the run (count):", ""]
        header += [f"* {k} ({v}x)" for k, v in sorted(seen.items())]
    titles = {pid: PAPERS[pid].PAPER for pid in PAPERS}
    return write_report(sections, out, "\n".join(header) + "\n", titles)
