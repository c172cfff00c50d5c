"""When a crashed child of the local stack is started again, and when the stack gives up: a pure
decision from the child's crash times and the clock, with no process or timer in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Restart:
    """Start the child again after ``delay_s``; ``crash_count`` crashes fall in the window."""

    delay_s: float
    crash_count: int


@dataclass(frozen=True)
class GiveUp:
    """Stop the stack: the child crashed too often to be worth restarting."""

    reason: str


@dataclass(frozen=True)
class RestartPolicy:
    """Exponential backoff from ``first_delay_s``, doubling per recent crash up to
    ``max_delay_s``; ``max_crashes`` crashes within ``window_s`` seconds end the stack.

    Only crashes inside the window count, so a child that ran steadily for a while starts
    again from the first delay.
    """

    first_delay_s: float = 0.5
    max_delay_s: float = 10.0
    max_crashes: int = 5
    window_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.first_delay_s <= self.max_delay_s:
            raise ValueError("need 0 < first_delay_s <= max_delay_s")
        if self.max_crashes < 1 or self.window_s <= 0:
            raise ValueError("need max_crashes >= 1 and window_s > 0")

    def recent(self, crashes: Sequence[float], now: float) -> list[float]:
        """The crash times (monotonic seconds) that still count at ``now``."""
        return [t for t in crashes if now - t < self.window_s]

    def decide(self, crashes: Sequence[float], now: float) -> Restart | GiveUp:
        """What to do about a child whose crashes (the latest included) happened at
        ``crashes``, seen at ``now``."""
        count = len(self.recent(crashes, now))
        if count >= self.max_crashes:
            return GiveUp(f"crashed {count} times within {self.window_s:g}s")
        # count is at least 1 for a crash just seen; 0 only if the caller passed stale times.
        delay = self.first_delay_s * 2 ** max(count - 1, 0)
        return Restart(min(delay, self.max_delay_s), count)
