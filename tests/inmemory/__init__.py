"""The in-memory twin of the database, its ports and a hand-driven clock: for tests, never
deployed (no function imports it, and the package-contents check refuses it in a zip)."""

from tests.inmemory.clock import FakeClock
from tests.inmemory.database import IDEMPOTENCY_TTL_S, InMemoryDatabase
from tests.inmemory.ports import (
    MemoryJobStore,
    MemoryKindCatalog,
    MemoryWorkQueue,
    RecordingInvoker,
)
from tests.inmemory.tables import JobRow, Message

__all__ = [
    "IDEMPOTENCY_TTL_S",
    "FakeClock",
    "InMemoryDatabase",
    "JobRow",
    "MemoryJobStore",
    "MemoryKindCatalog",
    "MemoryWorkQueue",
    "Message",
    "RecordingInvoker",
]
