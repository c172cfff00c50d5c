"""The documentation holds together: every relative link and anchor resolves, measured figures
live only on the pages that say when and where they were measured, the README stays a short
map, and the benchmark page's tables are the committed results."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

README_MAX_LINES = 200

# Where measured figures belong: pages that say when, where and how each figure was measured.
MEASUREMENT_PAGES = (
    "docs/benchmark.md",
    "docs/first-run.md",
    "docs/scale-model.md",
    "CHANGELOG.md",
)
MEASUREMENT_FOLDERS = ("bench/results/",)

# Sentences that match the rule below but state a setting or a design, not a measurement.
# Keep it short: each entry is a sentence fragment and why it is allowed.
ALLOWED_FIGURES: dict[str, str] = {
    "# 10 starts a second": "a rate limit's setting in docs/flow-control.md's example",
    "polls `GET /stats` every 2 s": "the dashboard's polling interval (a setting)",
}

SKIPPED_DIRS = {".git", ".venv", "node_modules", ".devstack", "dist", ".mypy_cache", ".ruff_cache"}


# --- which files -------------------------------------------------------------------------------


def markdown_files() -> list[Path]:
    """Every Markdown file of the project: tracked or new (not ignored), as git sees them."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "*.md"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout.split("\0")
        paths = [ROOT / name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):  # not a checkout: walk the tree
        paths = [
            p
            for p in ROOT.rglob("*.md")
            if not SKIPPED_DIRS.intersection(p.relative_to(ROOT).parts)
        ]
    return sorted(p for p in paths if p.is_file())


def rel(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).as_posix()


# --- Markdown, as far as links and headings need it ---------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
HTML_HREF = re.compile(r"""<a\s[^>]*\bhref=["']([^"']+)["']""", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:name|id)=["']([^"']+)["']""", re.IGNORECASE)
ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link outside code: inline, reference and HTML."""
    for number, line in prose_lines(text):
        line = INLINE_CODE.sub("", line)
        for pattern in (INLINE_LINK, HTML_HREF):
            for match in pattern.finditer(line):
                yield number, match.group(1)
        definition = REFERENCE_DEF.match(line)
        if definition:
            yield number, definition.group(1)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without Markdown, lower-cased, every character
    but letters, digits, underscores, hyphens and spaces dropped, spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a page offers: its headings' slugs (repeats numbered as GitHub numbers them)
    and explicit HTML anchors."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    previous = ""
    for _, line in prose_lines(text):
        heading = None
        atx = ATX_HEADING.match(line)
        if atx:
            heading = atx.group(2)
        elif (
            SETEXT_UNDERLINE.match(line)
            and previous.strip()
            and not previous.lstrip().startswith(("|", "-", "*", ">"))
        ):
            heading = previous.strip()
        if heading is not None:
            base = slug(heading)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(HTML_ANCHOR.findall(line))
        previous = line
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of ``path`` whose file, or whose anchor in a Markdown file, is missing."""
    problems = []
    text = path.read_text()
    for number, target in links(text):
        if SCHEME.match(target):
            continue  # a URL elsewhere: not this test's to check
        file_part, _, anchor = target.partition("#")
        where = f"{rel(path, root)}:{number}: {target}"
        if file_part:
            resolved = (path.parent / file_part).resolve()
            if not resolved.is_relative_to(root):
                problems.append(f"{where} leaves the repository")
                continue
            if not resolved.exists():
                problems.append(f"{where}: no such file")
                continue
        else:
            resolved = path
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            problems.append(f"{where}: no heading with the anchor #{anchor}")
    return problems


# --- measured figures ----------------------------------------------------------------------------

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_RANGE = rf"{_NUMBER}(?:\s*[-–]\s*{_NUMBER})?"
# A duration: "5 s", "0.5-1 s", "30 seconds", "10 minutes", "22.1 ms".
TIME_FIGURE = re.compile(
    rf"(?<![\w.]){_RANGE}\s?(?:µs|us|ms|s|secs?|seconds?|mins?|minutes?|h|hours?)\b"
)
# A throughput: "1,234 jobs/s", "47,018/s", "200 requests a second".
RATE_FIGURE = re.compile(
    rf"(?<![\w.]){_RANGE}\s?(?:(?!about|around|within|up|to|in|for)[A-Za-z]+\s?)?"
    r"(?:/s\b|/sec\b|a second\b|per second\b)"
)
# Figures shaped like measurements whatever the sentence says: fractional or ranged
# milliseconds ("14.6 ms", "225-455 ms"), seconds with a fraction past ten ("12.6 s") or in a
# range ("3.6-5.6 s"), and approximate durations ("~950 ms"). Settings are round: "0.5 s",
# "1.5 s", "5-10 s".
_SECONDS = r"\s?(?:s|secs?|seconds?)\b"
MEASURED_SHAPE = re.compile(
    rf"(?<![\w.])(?:\d+\.\d+\s?(?:ms|µs)\b|{_NUMBER}\s*[-–]\s*{_NUMBER}\s?(?:ms|µs)\b"
    rf"|\d{{2,}}\.\d+{_SECONDS}"
    rf"|\d+\.\d+\s*[-–]\s*{_NUMBER}{_SECONDS}|\d+\s*[-–]\s*\d+\.\d+{_SECONDS}"
    rf"|[~≈]\s?{_NUMBER}\s?(?:µs|ms|s|seconds?|minutes?)\b)"
)
# Words that make a sentence about a measurement rather than a setting.
MEASUREMENT_WORDS = re.compile(
    r"\b(?:measured|measuring|measurements?|took|timed|p(?:50|90|95|99)|median|percentile"
    r"|load average|2-core|fresh clone|on average|benchmark(?:ed)? (?:run|results?))\b",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=\S)")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def sentences(text: str) -> Iterator[tuple[int, str]]:
    """(first line, sentence) of a Markdown text: table rows and code lines one by one, list
    items and paragraphs joined across their wrapped lines, then split at sentence ends."""
    unit: list[str] = []
    start = 0

    def flush() -> Iterator[tuple[int, str]]:
        if unit:
            for piece in SENTENCE_END.split(" ".join(part.strip() for part in unit)):
                yield start, piece
            unit.clear()

    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            yield from flush()
            fenced = not fenced
            continue
        if fenced or line.lstrip().startswith("|"):
            yield from flush()
            yield number, line
        elif not line.strip() or ATX_HEADING.match(line):
            yield from flush()
            if line.strip():
                yield number, line
        else:
            if LIST_ITEM.match(line):
                yield from flush()
            if not unit:
                start = number
            unit.append(line)
    yield from flush()


def measured_figures(text: str) -> list[tuple[int, str]]:
    """(line, sentence) of every sentence that states a measured time or rate: a throughput,
    a measurement-shaped figure, or a duration in a sentence that speaks of measuring.

    A setting ("a lease of 5 s", "the sweep runs every 2 seconds") is a whole number of a unit
    in a sentence that does not speak of measuring, and passes."""
    found = []
    for number, sentence in sentences(text):
        if any(fragment in sentence for fragment in ALLOWED_FIGURES):
            continue
        if (
            RATE_FIGURE.search(sentence)
            or MEASURED_SHAPE.search(sentence)
            or (TIME_FIGURE.search(sentence) and MEASUREMENT_WORDS.search(sentence))
        ):
            found.append((number, sentence.strip()))
    return found


def may_hold_measurements(path: Path) -> bool:
    name = rel(path)
    return name in MEASUREMENT_PAGES or name.startswith(MEASUREMENT_FOLDERS)


# --- the tests -----------------------------------------------------------------------------------


def test_the_markdown_files_are_found() -> None:
    names = {rel(p) for p in markdown_files()}
    assert {"README.md", "docs/README.md", "docs/architecture.md", "docs/benchmark.md"} <= names


def test_every_relative_link_points_to_an_existing_file_and_heading() -> None:
    problems = [problem for path in markdown_files() for problem in broken_links(path)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_link_check_catches_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    (root / "docs").mkdir()
    (root / "README.md").write_text("# Project\n")
    (root / "docs" / "architecture.md").write_text("# Architecture\n\n## Lock order\n")
    page = root / "docs" / "page.md"
    page.write_text(
        "# A page\n\n## Its `second` heading: here\n\n"
        "[ok](architecture.md#lock-order) [ok](#its-second-heading-here) [ok](../README.md)\n"
        "[gone](no-such-page.md) [bad anchor](architecture.md#no-such-heading)\n"
        "[bad here](#nowhere) `[in code](nowhere.md)` [web](https://example.com/x.md)\n"
        "[outside](../../elsewhere.md)\n\n"
        "```\n[in a fence](nowhere.md)\n```\n"
    )
    problems = broken_links(page, root)
    assert len(problems) == 4, problems
    assert any("leaves the repository" in p for p in problems)
    assert any("no-such-page.md: no such file" in p for p in problems)
    assert any("#no-such-heading" in p for p in problems)
    assert any("#nowhere" in p for p in problems)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Wake-ups: workers follow the backlog", "wake-ups-workers-follow-the-backlog"),
        ("What `serverless.yml` sets up", "what-serverlessyml-sets-up"),
        ("Functions (Google Cloud Run functions)", "functions-google-cloud-run-functions"),
        ("The [sweep](x.md) & its *period*", "the-sweep--its-period"),
        ("snake_case stays", "snake_case-stays"),
    ],
)
def test_anchors_follow_githubs_slug_rules(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_repeated_heading_gets_a_numbered_anchor() -> None:
    assert {"notes", "notes-1", "notes-2"} <= anchors("## Notes\n\n## Notes\n\n# Notes\n")


def test_measured_times_live_only_on_the_benchmark_and_first_run_pages() -> None:
    found = [
        f"{rel(path)}:{line}: {sentence}"
        for path in markdown_files()
        if not may_hold_measurements(path)
        for line, sentence in measured_figures(path.read_text())
    ]
    assert not found, (
        "measured figures outside docs/benchmark.md and docs/first-run.md (move them there and "
        "link to them, or, for a setting, add it to ALLOWED_FIGURES):\n" + "\n".join(found)
    )


def test_the_measured_time_rule_catches_planted_figures(tmp_path: Path) -> None:
    planted = tmp_path / "planted.md"
    planted.write_text(
        "# Notes\n\n"
        "The drain of 10,000 jobs took 3 s on the\nshared machine.\n\n"  # wrapped, a marker
        "- Warm dispatch: 2.1 ms.\n"  # a fractional millisecond figure
        "- Submit did 1,234 jobs/s with 8 clients.\n"  # a throughput
        "- Loading the client: 500–2,400 ms.\n"  # a range of milliseconds
        "- No lingering worker (~950 ms).\n\n"  # approximate
        "| e2e p99 | 45 s |\n\n"  # a table row with a percentile
        "`make test-unit` ran 317 tests in 12.6 s.\n\n"  # seconds with a fraction
        "A drain of 10,000 jobs: 3.6-5.6 s.\n\n"  # a range with a fraction
        "Settings pass: a lease of 5 s, renewed every third of it; the sweep runs every 2\n"
        "seconds; a wake-up waits 10 s; tokens are kept 10 minutes. A retry pauses 0.5 s,\n"
        "then 1.5 s; a task runs 5-10 s by default.\n"
        "The relay sends 200 requests per pass, passes about a second apart.\n"
    )
    found = measured_figures(planted.read_text())
    assert [line for line, _ in found] == [3, 6, 7, 8, 9, 11, 13, 15], found


def test_the_measurement_pages_are_the_exempt_ones() -> None:
    assert may_hold_measurements(ROOT / "docs" / "benchmark.md")
    assert may_hold_measurements(ROOT / "docs" / "first-run.md")
    assert may_hold_measurements(ROOT / "docs" / "scale-model.md")  # predicted from measured
    assert may_hold_measurements(ROOT / "bench" / "results" / "ISSUE16_17.md")
    assert not may_hold_measurements(ROOT / "README.md")
    assert not may_hold_measurements(ROOT / "docs" / "architecture.md")


def test_the_readme_is_a_short_map() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


# --- the benchmark page's generated tables -------------------------------------------------------


def bench_docs() -> ModuleType:
    """scripts/bench_docs.py, imported as the script runs (scripts/ on the path)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return importlib.import_module("bench_docs")
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_the_benchmark_page_shows_the_committed_results() -> None:
    module = bench_docs()
    page = module.PAGE.read_text()
    assert module.fill(page) == page, "docs/benchmark.md is stale: run python scripts/bench_docs.py"


def test_a_changed_result_changes_the_page(tmp_path: Path) -> None:
    module = bench_docs()
    results = tmp_path / "results"
    shutil.copytree(module.RESULTS, results)
    latest = results / "latest.csv"
    rows = latest.read_text().splitlines()
    index = next(i for i, row in enumerate(rows) if row.startswith("measure,submit_sql_1c,"))
    head, system, _value, ratio = rows[index].rsplit(",", 3)
    assert system == "ours"
    rows[index] = ",".join([head, system, "98765.0", ratio])
    latest.write_text("\n".join(rows) + "\n")
    page = module.PAGE.read_text()
    changed = module.fill(page, results)
    assert changed != page
    assert "98,765" in changed
    assert module.fill(changed, results) == changed  # rendering is stable


def test_the_page_must_keep_every_table_and_pair_its_markers() -> None:
    module = bench_docs()
    page = module.PAGE.read_text()
    without = re.sub(
        r"<!-- BEGIN GENERATED burst_noop -->.*?<!-- END GENERATED burst_noop -->",
        "",
        page,
        flags=re.DOTALL,
    )
    with pytest.raises(ValueError, match="lacks the generated table"):
        module.fill(without)
    with pytest.raises(ValueError, match="unpaired"):
        module.fill(page.replace("<!-- END GENERATED exactly_once -->", "", 1))
    with pytest.raises(ValueError, match="no table is generated"):
        module.fill(page + "\n<!-- BEGIN GENERATED nope -->\n<!-- END GENERATED nope -->\n")
