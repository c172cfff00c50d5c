"""Each Lambda function's package contents, derived from its handler's import closure.

    python scripts/package_contents.py          # rewrite deploy/serverless/package-contents.json
    python scripts/package_contents.py --check  # exit 1 if the file is stale

serverless.yml takes every function's ``package.patterns`` from the generated file, so no list
of files is kept by hand: a module joins a package exactly when its handler can import it
(lazy imports inside function bodies included), and leaves it when nothing imports it any more.
The test suite runs ``--check``, so a change that forgets to regenerate fails.

Your own tasks (deploy/tasks.json: a folder holding your package, and its task modules) join
process_job's package by the same rule: each module and everything of your package it imports,
and the ``TASK_MODULES``/``TASK_PATH`` that make the worker load them are written beside the
patterns for serverless.yml. ``SUPAJOBS_TASKS`` names another configuration file.
"""

from __future__ import annotations

import json
import modulefinder
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from generated import write_or_check  # scripts/ is on the path when run

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from functions.env import Settings, Var  # noqa: E402

OUTPUT = ROOT / "deploy" / "serverless" / "package-contents.json"
PACKAGE = "functions"
# Never deployed: the in-memory twin and the test clock (tests/inmemory) and the rest of the
# tests, and the two modules the twin replaced, should one come back.
TESTING = ("tests", "functions.testing", "functions.fakes")
HANDLERS = {
    "submit": "functions.submit",
    "webhook": "functions.webhook",
    "process_job": "functions.process_job",
}


SUPAJOBS_TASKS = Var(
    "SUPAJOBS_TASKS",
    "The tasks configuration the Lambda packages are built from (the user's task modules and"
    " their folder).",
    default="deploy/tasks.json",
    example="deploy/tasks.prod.json",
)


@dataclass(frozen=True)
class PackagingSettings(Settings):
    READER: ClassVar[str] = "scripts/package_contents.py (packaging)"
    READS: ClassVar[tuple[Var, ...]] = (SUPAJOBS_TASKS,)

    tasks_file: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> PackagingSettings:
        # Given, as the caller wrote it (relative to where they are); else the checkout's.
        given = SUPAJOBS_TASKS.given(env)
        return cls(Path(SUPAJOBS_TASKS.get(env)) if given else ROOT / SUPAJOBS_TASKS.default)


@dataclass(frozen=True)
class Tasks:
    """The user's own task modules and the folder (relative to the checkout) holding them."""

    path: str = ""
    modules: tuple[str, ...] = ()

    @classmethod
    def load(cls, config: Path | None = None) -> Tasks:
        where = config or PackagingSettings.from_env().tasks_file
        if not where.is_file():
            return cls()
        document = json.loads(where.read_text())
        path = str(document.get("path") or "").strip().strip("/")
        modules = tuple(str(m).strip() for m in document.get("modules") or [] if str(m).strip())
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise SystemExit(f"{where}: 'path' must be a folder inside the checkout, not {path!r}")
        if modules and not (ROOT / path).is_dir():
            raise SystemExit(f"{where}: 'path' {path!r} is not a folder of the checkout")
        return cls(path, modules)

    def packages(self) -> set[str]:
        """The top-level packages the task modules belong to (theirs, never ours)."""
        return {module.split(".")[0] for module in self.modules}


def _imported(module: str, root: Path) -> dict[str, modulefinder.Module]:
    # Only the checkout (and the user's folder) is searched: the standard library and
    # third-party modules are not found, so they are neither followed nor packaged (the layer
    # and the runtime hold them).
    finder = modulefinder.ModuleFinder(path=[str(root), str(ROOT)])
    finder.import_hook(module)
    return finder.modules


def testing_modules(module: str, root: Path = ROOT) -> list[str]:
    """Testing modules ``module`` imports, directly or not: a deployed function must import none
    (outside ``functions`` they would not even be packaged, and fail only once deployed)."""
    return sorted(
        name
        for name in _imported(module, root)
        if any(name == t or name.startswith(t + ".") for t in TESTING)
    )


def closure(
    module: str, root: Path = ROOT, packages: set[str] | None = None, base: Path | None = None
) -> list[str]:
    """Files of ``packages`` (ours by default) that ``module`` imports, directly or not, found
    under ``root`` and named relative to ``base`` (``root`` by default)."""
    wanted = packages or {PACKAGE}
    files = set()
    for name, found in _imported(module, root).items():
        found_file: str | None = getattr(found, "__file__", None)  # absent from typeshed's Module
        if name.split(".")[0] in wanted and found_file:
            path = Path(found_file).resolve()
            files.add(path.relative_to((base or root).resolve()).as_posix())
    return sorted(files)


def contents(tasks: Tasks | None = None) -> dict[str, list[str]]:
    """serverless ``package.patterns`` per function: exclude everything, then the closure;
    process_job's also holds the user's task modules and the parts of our package they use."""
    tasks = tasks or Tasks.load()
    patterns = {function: ["!**", *closure(module)] for function, module in HANDLERS.items()}
    for module in tasks.modules:
        theirs = closure(module, ROOT / tasks.path, tasks.packages(), ROOT)
        ours = closure(module, ROOT / tasks.path, base=ROOT)
        patterns["process_job"] = ["!**", *sorted({*patterns["process_job"][1:], *theirs, *ours})]
    return patterns


def environment(tasks: Tasks | None = None) -> dict[str, str]:
    """What process_job needs to load them: ``TASK_MODULES`` and ``TASK_PATH``."""
    tasks = tasks or Tasks.load()
    return {"TASK_MODULES": ",".join(tasks.modules), "TASK_PATH": tasks.path}


def render() -> str:
    tasks = Tasks.load()
    body: dict[str, object] = {
        "_generated": "by scripts/package_contents.py from each handler's imports and"
        " deploy/tasks.json; do not edit",
        **contents(tasks),
        "process_job_environment": environment(tasks),
    }
    return json.dumps(body, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    for function, module in HANDLERS.items():
        testing = testing_modules(module)
        if testing:
            print(f"{function} imports testing modules: {', '.join(testing)}", file=sys.stderr)
            return 1
    return write_or_check(OUTPUT, render, "package_contents.py", argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
