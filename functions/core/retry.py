"""What follows a failed attempt: another one after a jittered backoff, the end, or a hand-back.

``next_step`` is pure: the attempt number, why it failed, the policy and a random draw in
[0, 1) decide; the worker only carries the answer out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from functions.core import defaults
from functions.core.models import Failure


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = defaults.MAX_ATTEMPTS
    base_delay_s: float = defaults.RETRY_BASE_DELAY_S
    max_delay_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("delays may not be negative")

    def should_retry(self, attempt: int) -> bool:
        """Whether the job gets another attempt after attempt number ``attempt`` failed."""
        return attempt < self.max_attempts

    def delay_after(self, attempt: int) -> float:
        """The nominal backoff after attempt ``attempt`` failed: doubling, up to the ceiling."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempt - 1)))

    def jittered_delay(self, attempt: int, draw: float) -> float:
        """Seconds before the next attempt, for a ``draw`` in [0, 1).

        Equal jitter: half the nominal delay, plus up to as much again at random. Jobs that
        failed together (a database blip fails every task in flight) come back spread over
        half their delay instead of in lockstep, and none comes back sooner than half of it.
        Full jitter spreads further but can retry at once, straight back into the outage
        that failed the attempt.
        """
        nominal = self.delay_after(attempt)
        return nominal / 2 + nominal / 2 * min(max(draw, 0.0), 1.0)


@dataclass(frozen=True)
class Retry:
    """Put the job back to pending; its message reappears after ``delay_s``."""

    delay_s: float


@dataclass(frozen=True)
class Fail:
    """Record the failure: the job is finished."""


@dataclass(frozen=True)
class HandBack:
    """Return the message at once and do not count the attempt."""


Step = Retry | Fail | HandBack


def next_step(
    attempt: int, failure: Failure, policy: RetryPolicy, draw: Callable[[], float]
) -> Step:
    """What follows attempt number ``attempt`` ending with ``failure``.

    An attempt the invocation's deadline cut short goes back uncounted: the worker only starts
    a task when its whole declared limit fits before that deadline, so the cut is the
    scheduler's doing (a slow claim ate into the margin), not the task's, and counting it
    would let a few short invocations fail a healthy job. The task's own limit still counts.
    """
    if failure is Failure.INTERRUPTED:
        return HandBack()
    if failure is Failure.PERMANENT or not policy.should_retry(attempt):
        return Fail()
    return Retry(policy.jittered_delay(attempt, draw()))
