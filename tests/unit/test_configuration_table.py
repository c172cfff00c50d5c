"""docs/configuration.md's table of environment variables is complete and true: it is what the
settings objects declare (not stale), no code reads a variable it lacks, and each settings object
really reads every variable it declares (so the table names none that nothing reads)."""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

import config_docs  # noqa: E402

SCANNED = ("functions", "devstack", "client", "bench", "scripts")
# A read by name: os.environ.get("X"), os.environ["X"] (not an assignment), os.getenv("X"),
# env.get("X") / env["X"] on a mapping handed the environment, and Var("X", ...) declarations.
READS = [
    re.compile(r"""environ\.get\(\s*["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\](?!\s*=[^=])"""),
    re.compile(r"""getenv\(\s*["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""\benv\.get\(\s*["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""\benv\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\](?!\s*=[^=])"""),
    re.compile(r"""\bVar\(\s*["']([A-Z][A-Z0-9_]*)["']"""),
]


def _sources() -> Iterator[Path]:
    yield ROOT / "main.py"
    for folder in SCANNED:
        yield from sorted((ROOT / folder).rglob("*.py"))


def names_read_in_code() -> dict[str, set[str]]:
    """Every variable name the code reads or declares, with the files that do."""
    found: dict[str, set[str]] = {}
    for path in _sources():
        text = path.read_text()
        for pattern in READS:
            for name in pattern.findall(text):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def documented() -> set[str]:
    text = (ROOT / "docs" / "configuration.md").read_text()
    table = text.partition(config_docs.START)[2].partition(config_docs.END)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", table, re.M))


def test_the_table_is_what_the_settings_objects_declare() -> None:
    current = (ROOT / "docs" / "configuration.md").read_text()
    assert current == config_docs.render(), "stale: run python scripts/config_docs.py"
    assert documented() == config_docs.names()


def test_every_variable_the_code_reads_is_in_the_table() -> None:
    missing = {
        name: files for name, files in names_read_in_code().items() if name not in documented()
    }
    assert missing == {}, "read in code, missing from docs/configuration.md"


def test_the_scan_finds_reads_in_every_form() -> None:
    """The patterns are live: each form of a read is caught (and an assignment is not a read)."""
    text = "\n".join(
        [
            'os.environ.get("A_ONE")',
            'os.environ["A_TWO"]',
            'os.environ["NOT_READ"] = x',
            'os.getenv("A_THREE")',
            'env.get("A_FOUR", "")',
            'X = Var("A_FIVE", "help")',
        ]
    )
    seen = {name for pattern in READS for name in pattern.findall(text)}
    assert seen == {"A_ONE", "A_TWO", "A_THREE", "A_FOUR", "A_FIVE"}


class Recording(Mapping[str, str]):
    """An environment that notes every name it is asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self._values[name]

    def get(self, name: str, default: Any = None) -> Any:
        self.asked.add(name)
        return self._values.get(name, default)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(name)
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("a settings object reads names, not the whole environment")

    def __len__(self) -> int:
        return len(self._values)


# Enough for every settings object to read all of its variables: the branches that read more
# (a Cloud Tasks queue, ID-token callers) are taken.
FULL_ENVIRONMENT = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
    "WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"k" * 32).decode(),
    "PROCESS_JOB_URL": "https://example.test/process_job",
    "CLOUD_TASKS_QUEUE": "projects/p/locations/europe-west1/queues/q",
    "PROCESS_JOB_INVOKER_SERVICE_ACCOUNT": "invoker@p.iam.gserviceaccount.com",
    "PROCESS_JOB_AUTH": "google-id-token",
    "PROCESS_JOB_AUDIENCE": "https://example.test/process_job",
    "PROCESS_JOB_CALLERS": "invoker@p.iam.gserviceaccount.com",
}


@pytest.mark.parametrize("settings", config_docs.SETTINGS, ids=lambda s: s.__name__)
def test_each_settings_object_reads_every_variable_it_declares(settings: Any) -> None:
    env = Recording(dict(FULL_ENVIRONMENT))
    settings.from_env(env)
    declared = {var.name for var in settings.READS}
    assert declared - env.asked == set(), f"{settings.__name__} declares but never reads these"
