"""The HTTP API's routes for serverless.yml, generated from the functions' route table.

    python scripts/http_routes.py          # rewrite deploy/serverless/http-routes.json
    python scripts/http_routes.py --check  # exit 1 if the file is stale

serverless.yml takes the ``events`` of ``submit`` and ``webhook`` from the generated file, so a
route the jobs API dispatches on (functions/http/routes.py) is a route the deployed API serves,
with its CORS preflight; scripts/check_serverless_package.py checks the packaged template
against the same table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from generated import write_or_check  # scripts/ is on the path when run

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
    return write_or_check(OUTPUT, render, "http_routes.py", argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
