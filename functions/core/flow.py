"""Flow control as a task kind declares it and a submitter asks for it (pure: no I/O).

The database enforces it (``private.flow_admit``, see docs/flow-control.md); this module only
checks what is declared or asked and writes it as the JSON the SQL reads (task_kinds.flow)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from functions.core.errors import InvalidInput

# A kind's concurrency key: one key for the whole kind, one per owner, or one per value of a
# top-level payload field.
_KEY_EXPRESSION = re.compile(r"^(kind|owner|payload\.[A-Za-z_][A-Za-z0-9_]{0,63})$")
MAX_KEY_CHARS = 200
MAX_LIMIT = 10_000
MAX_DEBOUNCE_S = 86_400.0
DEFAULT_PRIORITY_RANGE = (0, 10)


@dataclass(frozen=True)
class FlowSettings:
    """A kind's flow control; every part optional (none at all: the plain, fastest path).

    - ``max_running``: jobs of the kind admitted and unfinished at once;
    - ``concurrency_limit`` per ``concurrency_key`` ("kind", "owner" or "payload.<field>");
    - ``fair``: round robin between owners (the default) rather than one line for all;
    - ``priority_min`` / ``priority_max``: the priorities a submitter may ask for (0..10),
      and ``priority_step_s``: the ageing rule, a job's waiting time worth one level (60 s);
    - ``rate_limit`` starts per ``rate_period_s`` seconds, with bursts of ``rate_burst``.
    """

    max_running: int | None = None
    concurrency_limit: int | None = None
    concurrency_key: str | None = None
    fair: bool | None = None
    priority_min: int | None = None
    priority_max: int | None = None
    priority_step_s: float | None = None
    rate_limit: int | None = None
    rate_period_s: float | None = None
    rate_burst: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_running", "concurrency_limit", "rate_limit", "rate_burst"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 1 <= value <= MAX_LIMIT):
                raise ValueError(f"{name} must be an integer from 1 to {MAX_LIMIT}")
        for name in ("priority_step_s", "rate_period_s"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.concurrency_key is not None:
            if not _KEY_EXPRESSION.match(self.concurrency_key):
                raise ValueError("concurrency_key must be 'kind', 'owner' or 'payload.<field>'")
            if self.concurrency_limit is None:
                raise ValueError("concurrency_key needs a concurrency_limit")
        low, high = self.priority_range
        if low > high:
            raise ValueError("priority_min must not be above priority_max")
        if (self.rate_period_s is not None or self.rate_burst is not None) and not self.rate_limit:
            raise ValueError("rate_period_s and rate_burst need a rate_limit")

    @property
    def priority_range(self) -> tuple[int, int]:
        low, high = DEFAULT_PRIORITY_RANGE
        return (
            self.priority_min if self.priority_min is not None else low,
            self.priority_max if self.priority_max is not None else high,
        )

    def to_json(self) -> dict[str, Any]:
        """What task_kinds.flow holds: the parts declared, nothing else."""
        return {name: value for name, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class JobFlow:
    """What a submitter asks of one job: a priority, a concurrency key and/or limit, a dedup
    key (with ``debounce_s``, latest wins)."""

    priority: int | None = None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    dedup_key: str | None = None
    debounce_s: float | None = None


FIELDS = ("priority", "concurrency_key", "concurrency_limit", "dedup_key", "debounce_seconds")


def _integer(document: dict[str, Any], name: str) -> int | None:
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer", f"/{name}")
    return value


def _key(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_KEY_CHARS
        or any(ch < " " or ch == "\x7f" for ch in value)
    ):
        raise InvalidInput(f"{name} must be 1 to {MAX_KEY_CHARS} printable characters", f"/{name}")
    return value


def parse_job_flow(document: dict[str, Any]) -> JobFlow | None:
    """The flow fields of a submission, checked as far as they can be without the kind (the
    database checks the priority against the kind's bounds); None when none is given."""
    if not any(document.get(name) is not None for name in FIELDS):
        return None
    limit = _integer(document, "concurrency_limit")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"concurrency_limit must be from 1 to {MAX_LIMIT}", "/concurrency_limit")
    debounce = document.get("debounce_seconds")
    if debounce is not None:
        if isinstance(debounce, bool) or not isinstance(debounce, int | float):
            raise InvalidInput("debounce_seconds must be a number", "/debounce_seconds")
        if not 0 <= debounce <= MAX_DEBOUNCE_S:
            raise InvalidInput(
                "debounce_seconds must be from 0 to 86400 (a day)", "/debounce_seconds"
            )
    dedup_key = _key(document, "dedup_key")
    if debounce is not None and dedup_key is None:
        raise InvalidInput("debounce_seconds needs a dedup_key", "/debounce_seconds")
    return JobFlow(
        priority=_integer(document, "priority"),
        concurrency_key=_key(document, "concurrency_key"),
        concurrency_limit=limit,
        dedup_key=dedup_key,
        debounce_s=float(debounce) if debounce is not None else None,
    )
