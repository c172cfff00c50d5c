"""Each Lambda function's package contents, derived from its handler's import closure.

    python scripts/package_contents.py          # rewrite deploy/serverless/package-contents.json
    python scripts/package_contents.py --check  # exit 1 if the file is stale

serverless.yml takes every function's ``package.patterns`` from the generated file, so no list
of files is kept by hand: a module joins a package exactly when its handler can import it
(lazy imports inside function bodies included), and leaves it when nothing imports it any more.
The test suite runs ``--check``, so a change that forgets to regenerate fails.
"""

from __future__ import annotations

import argparse
import json
import modulefinder
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def _imported(module: str, root: Path) -> dict[str, modulefinder.Module]:
    # Only the checkout is searched: the standard library and third-party modules are not
    # found, so they are neither followed nor packaged (the layer and the runtime hold them).
    finder = modulefinder.ModuleFinder(path=[str(root)])
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


def closure(module: str, root: Path = ROOT) -> list[str]:
    """Files of our package that ``module`` imports, directly or not, relative to ``root``."""
    files = set()
    for name, found in _imported(module, root).items():
        if (name == PACKAGE or name.startswith(PACKAGE + ".")) and found.__file__:
            files.add(Path(found.__file__).resolve().relative_to(root.resolve()).as_posix())
    return sorted(files)


def contents() -> dict[str, list[str]]:
    """serverless ``package.patterns`` per function: exclude everything, then the closure."""
    return {function: ["!**", *closure(module)] for function, module in HANDLERS.items()}


def render() -> str:
    body = {
        "_generated": "by scripts/package_contents.py from each handler's imports; do not edit",
        **contents(),
    }
    return json.dumps(body, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    for function, module in HANDLERS.items():
        testing = testing_modules(module)
        if testing:
            print(f"{function} imports testing modules: {', '.join(testing)}", file=sys.stderr)
            return 1
    wanted = render()
    current = OUTPUT.read_text() if OUTPUT.is_file() else ""
    if args.check:
        if current != wanted:
            print(
                f"{OUTPUT.relative_to(ROOT)} is stale: run python scripts/package_contents.py",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != wanted:
        OUTPUT.write_text(wanted)
        print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
