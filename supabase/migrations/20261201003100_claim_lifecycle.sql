-- The claim learns the job lifecycle (20261201003000): a delayed job ('scheduled') is started
-- when its message comes due, and a message starts its job only while it is the job's current
-- one (job_results.msg_id): a retried job gets a new message, and an old message still in the
-- queue for it is archived as 'skipped' rather than starting it a second time.
-- Otherwise 20261201001100's claim_jobs, unchanged; START_ATTEMPT applies the same two rules.
create or replace function private.claim_jobs(
  p_batch_size integer,
  p_visibility_s integer,
  p_wait_ms integer default 0,
  p_poll_ms integer default 5
) returns table (
  msg_id bigint, read_ct integer, message jsonb,
  kind text, task_name text, payload jsonb, attempt integer
)
-- Invoker's rights and the caller's search_path (every name here is qualified), so triggers on
-- job_results run as they would for any other update.
language plpgsql
as $$
#variable_conflict use_column
declare
  v_until timestamptz := clock_timestamp() + make_interval(secs => greatest(p_wait_ms, 0) / 1000.0);
  v_msg_ids bigint[];
  v_read_cts integer[];
  v_messages jsonb[];
  v_ids bigint[];
  v_names text[];
  v_payloads jsonb[];
  v_attempts integer[];
  v_skipped bigint[];
begin
  loop
    -- pgmq.read's statement, written out: pgmq.read builds it with format() and plans it on
    -- every call, where this one's plan is cached (it was most of a claim's time). Only the
    -- columns every PGMQ version has are touched (last_read_at is left as it is).
    with picked as (
      select q.msg_id from pgmq.q_work_queue q
      where q.vt <= clock_timestamp()
      order by q.msg_id
      limit p_batch_size
      for update skip locked
    ), taken as (
      update pgmq.q_work_queue m
      set vt = clock_timestamp() + make_interval(secs => p_visibility_s), read_ct = m.read_ct + 1
      from picked
      where m.msg_id = picked.msg_id
      returning m.msg_id, m.read_ct, m.message
    )
    select coalesce(array_agg(r.msg_id order by r.msg_id), '{}'),
           array_agg(r.read_ct order by r.msg_id), array_agg(r.message order by r.msg_id)
      into v_msg_ids, v_read_cts, v_messages
    from taken r;
    exit when cardinality(v_msg_ids) > 0 or clock_timestamp() >= v_until;
    perform pg_sleep(greatest(p_poll_ms, 1) / 1000.0);
  end loop;
  if cardinality(v_msg_ids) = 0 then
    return;
  end if;
  with started as (
    update public.job_results j
    set status = 'running', attempts = j.attempts + 1, started_at = clock_timestamp(), error = null
    from unnest(v_msg_ids, v_read_cts, v_messages) r(msg_id, read_ct, message)
    where r.read_ct <= 1 and j.job_id = (r.message ->> 'job_id')::uuid
      and j.msg_id = r.msg_id
      and j.status in ('pending', 'scheduled', 'running')
    returning r.msg_id, j.task_name, j.payload, j.attempts
  )
  select coalesce(array_agg(s.msg_id), '{}'), array_agg(s.task_name), array_agg(s.payload),
         array_agg(s.attempts)
    into v_ids, v_names, v_payloads, v_attempts
  from started s;
  select coalesce(array_agg(r.msg_id), '{}') into v_skipped
  from unnest(v_msg_ids, v_read_cts, v_messages) r(msg_id, read_ct, message)
  where r.read_ct <= 1 and r.msg_id <> all (v_ids);
  if cardinality(v_skipped) > 0 then
    perform pgmq.archive('work_queue', v_skipped);
  end if;
  return query
  select r.msg_id, r.read_ct, r.message,
         case when r.read_ct > 1 then 'redelivered'
              when r.msg_id = any (v_skipped) then 'skipped'
              else 'started' end,
         s.task_name, s.payload, s.attempt
  from unnest(v_msg_ids, v_read_cts, v_messages) r(msg_id, read_ct, message)
  left join unnest(v_ids, v_names, v_payloads, v_attempts) s(msg_id, task_name, payload, attempt)
    on s.msg_id = r.msg_id
  order by r.msg_id;
end
$$;
revoke all on function private.claim_jobs(integer, integer, integer, integer) from public, anon, authenticated;
