-- The heartbeat keeps in-flight messages invisible while their tasks run. A message locked by
-- a writer (its outcome being recorded) is skipped, never waited for: it is about to go.
create or replace function private.extend_visibility(p_msg_ids bigint[], p_visibility_s integer)
returns void
language sql
as $$
  update pgmq.q_work_queue q
  set vt = clock_timestamp() + make_interval(secs => p_visibility_s)
  where q.msg_id in (select l.msg_id from pgmq.q_work_queue l where l.msg_id = any (p_msg_ids)
                     order by l.msg_id for update skip locked)
$$;
revoke all on function private.extend_visibility(bigint[], integer) from public, anon, authenticated;
