"""``python -m devstack.migrate``: the name the baseline migration's error messages give for the
migration runner (a migration on main is never edited), kept so that advice still works. The
runner is devstack.postgres.migrate."""

from __future__ import annotations

import sys

from devstack.postgres.migrate import main

if __name__ == "__main__":
    sys.exit(main())
