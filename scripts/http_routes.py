"""The HTTP API's routes for serverless.yml, generated from the functions' route table.

    python scripts/http_routes.py          # rewrite deploy/serverless/http-routes.json
    python scripts/http_routes.py --check  # exit 1 if the file is stale

serverless.yml takes the ``events`` of ``submit`` and ``webhook`` from the generated file, so a
route the jobs API dispatches on (functions/http/routes.py) is a route the deployed API serves,
with its CORS preflight; scripts/check_serverless_package.py checks the packaged template
against the same table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "deploy" / "serverless" / "http-routes.json"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from functions.http import routes as routes  # noqa: E402  # re-exported


def render() -> str:
    body: dict[str, object] = {
        "_generated": "by scripts/http_routes.py from functions/http/routes.py; do not edit"
    }
    for function in routes.BY_FUNCTION:
        body[function] = [{"httpApi": key} for key in routes.route_keys(function)]
    return json.dumps(body, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    wanted = render()
    current = OUTPUT.read_text() if OUTPUT.is_file() else ""
    if args.check:
        if current != wanted:
            print(
                f"{OUTPUT.relative_to(ROOT)} is stale: run python scripts/http_routes.py",
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
