"""When a failed attempt is tried again: exponential backoff with a ceiling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay_s: float = 2.0
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
        """Seconds before the message becomes visible again after attempt ``attempt`` failed."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempt - 1)))
