"""Sections, tables and figures of a reproduction, and the writer of ``report.md`` (SPEC.md §5).

Every experiment returns :class:`Section` objects. The writer puts, under the output folder:

* ``report.md``: one part per section, tables in Markdown, figures linked;
* ``tables/<name>.csv``: every table, numbers written with 10 significant digits;
* ``figures/<name>.png`` and ``figures/<name>.csv``: every figure and the numbers behind it;
* ``timing.csv``: wall-clock seconds of every section and timed table cell. Times are the only
  numbers kept out of the other CSVs, so two runs with the same seed write identical CSVs.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "COMPARISON_COLUMNS",
    "Figure",
    "Section",
    "Table",
    "compare",
    "comparison_table",
    "fmt",
    "write_report",
]

COMPARISON_COLUMNS = ["quantity", "ours", "paper / SPEC", "difference", "note"]
NOT_REPORTED = "not reported"


def fmt(value, digits: int = 6) -> str:
    """Markdown form of a cell: floats with ``digits`` decimals (or scientific when tiny)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return "inf"
        if value != 0 and abs(value) < 10 ** (-min(digits, 4)):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def _csv_cell(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "" if math.isnan(value) else format(value, ".10g")
    if isinstance(value, int):
        return str(value)
    return str(value)


def compare(quantity: str, ours: float, reference: float | None = None, note: str = "") -> list:
    """One comparison row: quantity, ours, the paper's/SPEC's value (or "not reported"), and
    ``ours - reference``."""
    if reference is None:
        return [quantity, float(ours), NOT_REPORTED, float("nan"), note]
    return [quantity, float(ours), float(reference), float(ours) - float(reference), note]


@dataclass
class Table:
    """A table: ``name`` (file name of its CSV), a title, column names and rows of cells.

    Columns named in ``timing`` hold wall-clock seconds: shown in ``report.md``, written to
    ``timing.csv`` instead of the table's CSV (so the CSVs of two runs agree).
    """

    name: str
    title: str
    columns: list[str]
    rows: list[list]
    note: str = ""
    timing: Sequence[str] = ()

    def column(self, name: str) -> list:
        """The cells of column ``name``."""
        k = self.columns.index(name)
        return [row[k] for row in self.rows]


def comparison_table(name: str, title: str, rows: list[list], note: str = "") -> Table:
    """A :class:`Table` of :func:`compare` rows."""
    return Table(name, title, list(COMPARISON_COLUMNS), rows, note)


@dataclass
class Figure:
    """A figure: ``draw(fig)`` fills a matplotlib ``Figure``; ``columns``/``rows`` are the
    numbers it plots, written to ``figures/<name>.csv``."""

    name: str
    caption: str
    draw: Callable
    columns: list[str]
    rows: list[list]
    size: tuple[float, float] = (6.0, 4.0)
    tight: bool = True  # False when ``draw`` lays the figure out itself


@dataclass
class Section:
    """One experiment (e.g. ``E002-1``) of one paper."""

    key: str
    title: str
    text: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(v) for v in row])


def _markdown_table(table: Table) -> str:
    lines = [
        "| " + " | ".join(table.columns) + " |",
        "|" + "---|" * len(table.columns),
    ]
    for row in table.rows:
        lines.append("| " + " | ".join(fmt(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def _draw(figure: Figure, path: Path) -> None:
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=figure.size)
    figure.draw(fig)
    if figure.tight:
        fig.tight_layout()
    fig.savefig(path, dpi=80)


def write_report(sections: Sequence[Section], out_dir, header: str, papers: dict[str, str]) -> Path:
    """Write ``report.md``, the CSVs and the PNGs of ``sections`` under ``out_dir``.

    ``papers`` maps a paper id (``"000"``) to its title; sections are grouped by the paper id
    in their key (``E000-1``). Returns the path of ``report.md``.
    """
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    timing: list[list] = []
    parts = [header]
    current = None
    for sec in sections:
        paper = sec.key[1:4]
        if paper != current:
            current = paper
            parts.append(f"\n## Paper {paper}: {papers.get(paper, '')}\n")
        parts.append(f"\n### {sec.key} {sec.title}\n\n{sec.text.strip()}\n")
        timing.append([sec.key, "section", "", f"{sec.seconds:.2f}"])
        for tab in sec.tables:
            # rows without the optional non-convex cells (torch missing) are padded with blanks
            tab.rows = [list(r) + [float("nan")] * (len(tab.columns) - len(r)) for r in tab.rows]
            parts.append(f"\n**{tab.title}** (`tables/{tab.name}.csv`)\n\n{_markdown_table(tab)}\n")
            if tab.note:
                parts.append(f"\n{tab.note.strip()}\n")
            keep = [i for i, c in enumerate(tab.columns) if c not in tab.timing]
            _write_csv(
                out / "tables" / f"{tab.name}.csv",
                [tab.columns[i] for i in keep],
                [[row[i] for i in keep] for row in tab.rows],
            )
            for row in tab.rows:
                for col in tab.timing:
                    k = tab.columns.index(col)
                    timing.append([sec.key, tab.name, row[0], f"{float(row[k]):.2f}"])
        for figure in sec.figures:
            _draw(figure, out / "figures" / f"{figure.name}.png")
            _write_csv(out / "figures" / f"{figure.name}.csv", figure.columns, figure.rows)
            parts.append(
                f"\n![{figure.name}](figures/{figure.name}.png)\n\n*{figure.caption.strip()}* "
                f"Numbers: `figures/{figure.name}.csv`.\n"
            )
        parts.append(f"\n*Section time: {sec.seconds:.1f} s.*\n")
    _write_csv(out / "timing.csv", ["section", "table", "row", "seconds"], timing)
    path = out / "report.md"
    path.write_text("".join(p if p.endswith("\n") else p + "\n" for p in parts))
    return path
