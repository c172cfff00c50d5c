"""W3C trace context values (https://www.w3.org/TR/trace-context/): pure, no OpenTelemetry."""

from __future__ import annotations

import re
from typing import Any

TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


def traceparent_of(raw: Any) -> str | None:
    """``raw`` when it is a W3C traceparent this code can continue (version 00, ids not zero);
    None otherwise. A malformed header is ignored, as the recommendation says: the request
    starts a trace of its own."""
    if isinstance(raw, str) and TRACEPARENT.fullmatch(raw.strip()):
        return raw.strip()
    return None
