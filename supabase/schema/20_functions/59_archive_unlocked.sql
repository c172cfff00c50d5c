-- Archives a message unless another transaction holds it (a claim taking it): for writers that
-- lock a job before its message, against the lock order, and so must never wait for one.
create or replace function private.archive_unlocked(p_msg_id bigint) returns void
language sql
security definer
set search_path = pg_catalog
as $$
  with gone as (
    delete from pgmq.q_work_queue q
    where q.msg_id in (select l.msg_id from pgmq.q_work_queue l where l.msg_id = p_msg_id
                       for update skip locked)
    returning q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message
  )
  insert into pgmq.a_work_queue (msg_id, read_ct, enqueued_at, vt, message)
  select g.msg_id, g.read_ct, g.enqueued_at, g.vt, g.message from gone g
$$;
revoke all on function private.archive_unlocked(bigint) from public, anon, authenticated;
