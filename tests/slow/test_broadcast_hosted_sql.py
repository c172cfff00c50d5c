"""tests/sql/test_broadcast_sql.py on the hosted-like cluster: realtime.messages owned by
supabase_realtime_admin, the migrations applied by the Supabase CLI as the non-superuser
postgres (a member of supabase_realtime_admin, as on hosted projects)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.sql.test_broadcast_sql import (  # noqa: F401 (collected here, on this cluster)
    configured,
    test_a_rolled_back_change_sends_nothing,
    test_a_status_set_by_hand_is_sent_without_an_event,
    test_a_submit_is_sent_to_the_public_topic,
    test_every_transition_and_progress_report_is_sent_in_order,
    test_no_client_sends_on_a_job_topic,
    test_owned_jobs_go_to_their_owners_topic,
    test_realtime_is_owned_as_on_hosted,
    test_who_may_join_which_topic,
)


@pytest.fixture
def conn(hosted_db_url: str) -> Iterator[psycopg.Connection]:
    yield from configured(hosted_db_url)
