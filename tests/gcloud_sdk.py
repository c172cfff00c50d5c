"""The Google Cloud SDK the deploy tests run (``gcloud``'s own parser and upload list).

It comes with the machine image (Debian's repositories do not carry it, so ``.ci/run`` cannot
install it). A developer's machine without it skips those tests; in CI a missing ``gcloud``
fails them rather than letting them pass unchecked."""

from __future__ import annotations

import os
import shutil

import pytest

GCLOUD = shutil.which("gcloud")
NEEDS_GCLOUD = pytest.mark.skipif(
    GCLOUD is None and not os.environ.get("CI"),
    reason="the Google Cloud SDK is not installed (gcloud)",
)
