"""Every hand-written figure of the README and docs/ is indexed in
docs/figures.md with its command and commit, and every indexed figure is
still on its page."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "docs" / "figures.md"
PAGES = ("README.md", "docs/serving.md", "docs/corect-paper.md", "docs/data-format.md")

UNIT = r"(?:ms|s|minutes|KiB|MiB|GiB|GB|×|pushes/s|pushes a second|M parameters|parameters)"
#: A number followed by a unit: a figure that someone measured, unless allowed below.
FIGURE = re.compile(r"(?<![\w.,])\d[\d,]*(?:\.\d+)?\s?" + UNIT + r"(?!\w)")

#: Numbers with units that are not measurements, by page.
NOT_MEASURED = {
    "README.md": {
        "200 ms",   # the p99 threshold the load is read against
        "200 ×",    # dialogues × rate
    },
    "docs/serving.md": {
        "50 ms", "200 ms",  # the target and the threshold
        "200 ×",            # dialogues × rate
        "3×",               # the benchmark's target
    },
    "docs/corect-paper.md": {
        "2 ×", "4×",  # layer counts and MulT's feed-forward width
    },
    "docs/data-format.md": {
        "10 s", "7.5 s",  # clip start times in an example
    },
}


def flat(text: str) -> str:
    """Whitespace runs as one space, so a figure wrapped over lines matches."""
    return re.sub(r"\s+", " ", text)


def index() -> dict[str, list[tuple[list[str], str, str]]]:
    """Page -> rows of (figures, command, measured at)."""
    pages, page = {}, None
    for line in INDEX.read_text().splitlines():
        if line.startswith("## "):
            page = line[3:].strip()
            pages[page] = []
        elif page and line.startswith("| ") and not line.startswith(("| figures", "|---")):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            assert len(cells) == 3, f"docs/figures.md: a row of {page} is not 3 cells: {line}"
            figures = re.findall(r"`([^`]+)`", re.sub(r"\([^()]*\)", "", cells[0]))
            pages[page].append((figures, cells[1], cells[2]))
    return pages


def indexed(page: str) -> list[str]:
    return [figure for figures, _, _ in index()[page] for figure in figures]


def test_the_index_covers_every_page():
    assert sorted(index()) == sorted(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_every_row_names_a_command_and_a_commit(page):
    for figures, command, measured_at in index()[page]:
        assert figures, f"docs/figures.md, {page}: a row lists no figure"
        assert command, f"docs/figures.md, {page}: {figures} name no command"
        commit = re.search(r"`([0-9a-f]{7,40}|HEAD)`", measured_at)
        assert commit, f"docs/figures.md, {page}: {figures} name no commit"
        if commit.group(1) == "HEAD":
            test = re.search(r"(tests/\S+\.py)", command)
            assert test and (ROOT / test.group(1)).is_file(), (
                f"docs/figures.md, {page}: {figures} hold at HEAD by which test?")


@pytest.mark.parametrize("page", PAGES)
def test_every_indexed_figure_is_on_its_page(page):
    text = flat((ROOT / page).read_text())
    gone = [figure for figure in indexed(page) if flat(figure) not in text]
    assert not gone, (f"{page} no longer says {gone}: update docs/figures.md with the "
                      "figure that replaced it, its command and its commit")


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_on_the_page_is_indexed(page):
    text = flat((ROOT / page).read_text())
    listed = [flat(figure) for figure in indexed(page)]
    allowed = NOT_MEASURED[page]

    def known(figure: str) -> bool:
        inside = re.compile(r"(?<![\d.,])" + re.escape(figure) + r"(?!\w)")
        return figure in allowed or any(inside.search(item) for item in listed)

    missing = sorted({m.group(0) for m in FIGURE.finditer(text) if not known(m.group(0))})
    assert not missing, (f"{page} has figures that docs/figures.md does not list: {missing}; "
                         "add each with the command that makes it and the commit it was "
                         "measured at")


def test_the_scan_finds_a_new_figure():
    found = {m.group(0) for m in FIGURE.finditer(flat("an epoch took 12.5\ns and 3 MiB, 2×"))}
    assert found == {"12.5 s", "3 MiB", "2×"}
