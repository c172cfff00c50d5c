"""The relay's copy of pg_net's wake-up protocol (src/worker.c), with no database."""

from __future__ import annotations

import asyncio

from devstack.relay.worker import Wake


def test_only_the_first_commit_after_the_worker_woke_sets_the_latch() -> None:
    async def scenario() -> list[bool]:
        wake = Wake()
        seen = [wake.take()]  # what was queued before it listened: one round at start
        wake.latch.clear()
        wake.commit()  # the first commit since it woke: the latch is set
        seen.append(wake.latch.is_set())
        wake.latch.clear()
        wake.commit()  # the flag is already up: the latch stays clear
        seen.append(wake.latch.is_set())
        seen.append(wake.take())  # the next round still runs for it
        seen.append(wake.take())  # and nothing is left after that
        return seen

    assert asyncio.run(scenario()) == [True, True, False, True, False]
