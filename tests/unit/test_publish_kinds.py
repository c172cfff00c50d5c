"""process_job publishes its registry's kinds at cold start, with the limits its settings give,
and a database that is down then does not stop the worker."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from functions.core.errors import Unavailable
from functions.core.models import TaskKind
from functions.core.tasks import TaskSettings, registry
from functions.process_job import _publish_kinds
from tests.inmemory import MemoryKindCatalog


def test_the_registry_is_published_with_the_configured_limits() -> None:
    catalog = MemoryKindCatalog()
    _publish_kinds(catalog, registry.describe(TaskSettings(1.0, 30.0), 120.0))
    assert catalog.kinds()["simulate"].time_limit_s == 31.0  # TASK_MAX_SECONDS + 1
    assert set(registry.names()) <= set(catalog.kinds())


def test_a_database_that_is_down_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Down:
        def kinds(self) -> dict[str, TaskKind]:
            return {}

        def publish(self, kinds: Sequence[TaskKind]) -> None:
            raise Unavailable("the database connection failed; try again shortly")

    with caplog.at_level(logging.WARNING):
        _publish_kinds(Down(), registry.describe(TaskSettings(), 600.0))
    assert "could not publish the task kinds" in caplog.text
