"""README, docs, code and tests speak of the package: no issue numbers, no story of the order in
which the work was done (which sitting or revision did what, what the code did before). The
history of the work belongs in commit messages; the phrases this test looks for are spelled out
only in its patterns and in the inputs that test them."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLACES = ["README.md", "docs", "pyg_course", "scripts", "benchmarks", "tests", "pyproject.toml"]
SUFFIXES = {".md", ".rst", ".py", ".txt", ".toml", ".sh"}

ORDINAL = r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)"
NARRATION = re.compile("|".join([
    r"\bissues? ?#?\d+",  # issue numbers
    rf"\b(?:{ORDINAL}|this|that|an? earlier|the previous|a later|the next|the last) "
    r"(?:session|sitting)s?\b",
    r"\bsessions? \d+\b",
    r"\bsince this (?:revision|session|change)\b",
    r"(?<!is )(?<!are )(?<!be )(?<!was )(?<!were )(?<!been )\bused to\b",
    r"\bno longer\b(?! than)",
]), re.IGNORECASE)


def tracked_files():
    out = subprocess.run(["git", "ls-files", "--", *PLACES], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    return [REPO / f for f in out if Path(f).suffix in SUFFIXES and (REPO / f).is_file()]


def narration(text: str):
    return [m.group(0) for m in NARRATION.finditer(text)]


def test_patterns_catch_narration_and_spare_plain_words():
    assert narration("as measured in the fourth session") == ["fourth session"]
    assert narration("issue 8 asks for it") and narration("see issue #12")
    assert narration("the check used to fail") and narration("no longer aliased")
    assert not narration("the cache is used to skip work; a pytest scope='session' fixture")
    assert not narration("no longer than a second")


def test_no_issue_numbers_or_history_in_the_repository():
    files = [f for f in tracked_files() if f.resolve() != Path(__file__).resolve()]
    assert len(files) > 50
    found = [f"{f.relative_to(REPO)}:{n}: {line.strip()}"
             for f in files
             for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1)
             if narration(line)]
    assert not found, "narration of the work's history:\n" + "\n".join(found)
