"""The over-smoothing results page shows what its CSV holds: every table cell equals the
committed row rounded as printed, the published cells in brackets are the script's
``PUBLISHED`` table, and the "Against the published cells" counts and shortfalls follow from
the CSV."""

import csv
import re
from pathlib import Path

import pytest

from tests.helpers.scripts import load_script

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "results"
PAGE = (RESULTS / "oversmoothing.md").read_text()
DEPTHS = (2, 4, 8, 16, 32, 64)
#: The tables of each "## Results: <dataset>" section, in the order the page prints them.
TABLES = {"Cora": ("test_acc", "mad", "mad_gap", "dirichlet_normalized", "best_epoch",
                   "epoch_time"),
          "CiteSeer": ("test_acc", "mad", "mad_gap")}
#: How the page names remedies in its prose.
PROSE_NAMES = {"plain": "plain", "DropEdge": "dropedge", "ResGCN": "residual", "JKNet": "jk",
               "JKNet + DropEdge": "jk+dropedge", "GCNII": "gcnii"}


@pytest.fixture(scope="module")
def published():
    return load_script(REPO / "scripts" / "oversmoothing.py").PUBLISHED


@pytest.fixture(scope="module")
def rows():
    with open(RESULTS / "oversmoothing.csv", newline="") as f:
        return {(r["dataset"], r["remedy"], int(r["depth"])): r for r in csv.DictReader(f)}


def _signed(value):
    text = f"{value:+.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text.replace("-", "−")


def _three_figures(value):
    if value >= 1000:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.3g}"


FORMATS = {"mad": lambda v: f"{v:.3f}", "mad_gap": _signed,
           "dirichlet_normalized": _three_figures, "best_epoch": lambda v: f"{v:.0f}",
           "epoch_time": lambda v: f"{v:.3f}"}


def _section(heading):
    """The page from the ``## <heading>...`` line to the next ``## `` heading."""
    start = PAGE.index(f"## {heading}")
    return PAGE[start:PAGE.index("\n## ", start + 1)]


def _tables(text):
    """Every ``| remedy | L=2 | ...`` table of ``text`` as {remedy: [cell per depth]}."""
    tables = []
    for block in re.findall(r"\| remedy \| L=2 .*?\n\|---.*?\n((?:\|.*\n)+)", text):
        table = {}
        for line in block.strip().splitlines():
            remedy, *cells = [c.strip() for c in line.strip("|").split("|")]
            table[remedy] = cells
        tables.append(table)
    return tables


def _expected_accuracy(row, published_cell):
    text = f"{float(row['test_acc']):.1f} ± {float(row['test_acc_std']):.1f}"
    return text if published_cell is None else f"{text} ({published_cell:.1f})"


@pytest.mark.parametrize("dataset", sorted(TABLES))
def test_tables_show_the_csv(dataset, rows, published):
    tables = _tables(_section(f"Results: {dataset}"))
    assert len(tables) == len(TABLES[dataset])
    remedies = {remedy for d, remedy, _ in rows if d == dataset}
    for column, table in zip(TABLES[dataset], tables):
        assert set(table) == remedies, column
        for remedy, cells in table.items():
            assert len(cells) == len(DEPTHS), (column, remedy)
            pubs = published[dataset].get(remedy, (None,) * len(DEPTHS))
            for depth, cell, pub in zip(DEPTHS, cells, pubs):
                row = rows[dataset, remedy, depth]
                if column == "test_acc":
                    expected = _expected_accuracy(row, pub)
                else:
                    expected = FORMATS[column](float(row[column]))
                assert cell == expected, (dataset, column, remedy, depth)


def _against_published(rows, published):
    """{dataset: (cells within 3 points, published cells, {(remedy, depth): shortfall})}."""
    result = {}
    for dataset, per_remedy in published.items():
        reached, total, short = 0, 0, {}
        for remedy, cells in per_remedy.items():
            for depth, pub in zip(DEPTHS, cells):
                if pub is None:
                    continue
                total += 1
                ours = round(float(rows[dataset, remedy, depth]["test_acc"]), 1)
                if ours >= pub - 3:
                    reached += 1
                else:
                    short[remedy, depth] = round(ours - pub, 1)
        result[dataset] = (reached, total, short)
    return result


def test_against_the_published_cells_follows_from_the_csv(rows, published):
    text = _section("Against the published cells")
    counts = _against_published(rows, published)
    reached = sum(r for r, _, _ in counts.values())
    total = sum(t for _, t, _ in counts.values())
    assert f"Reached or exceeded, {reached} of the {total} published cells." in text
    for dataset, (r, t, _) in counts.items():
        assert f"{dataset} ({r} of {t})" in text
    paragraph = text[text.index("Short, in points:"):]
    paragraph = " ".join(paragraph[:paragraph.index("\n\n")].split())
    names = "|".join(published)
    printed = {}
    for dataset, part in re.findall(rf"[Oo]n ({names}) (.*?)(?=On (?:{names}) |$)", paragraph):
        for clause in part.split(";"):
            name = re.match(r"\s*([A-Za-z +]+?) \d", clause).group(1)
            for depth, points in re.findall(r"(\d+) \(−(\d+\.\d)\)", clause):
                printed[dataset, PROSE_NAMES[name], int(depth)] = -float(points)
    expected = {(dataset, remedy, depth): points
                for dataset, (_, _, short) in counts.items()
                for (remedy, depth), points in short.items()}
    assert printed == expected
    assert f"Every one of these {len(expected)} cells" in text
