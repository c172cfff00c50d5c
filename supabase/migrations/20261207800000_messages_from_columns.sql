-- Broadcast messages built from the rows' columns in the statement that records the events,
-- instead of serialising each changed row (its input payload included) to JSON and taking the
-- fields back out of it: private.job_messages now takes the job's row and its event and is a
-- SQL function the planner inlines, and private.broadcast_job_changes takes the topics and
-- messages. Measured on the embedded PG 18 (bench/results/ISSUE24.md): submit_job +11 %,
-- submit_jobs of 1,000 +41 %. Same messages, same topics. The definitions are the schema
-- folder's.

-- The messages of one change of a job: its row after the change and the event it made (null
-- for a change without one), one message per topic it goes to. Built from the row's columns,
-- and a SQL function without SET or SECURITY DEFINER, so the planner inlines it into the
-- statement that calls it: no call and no serialised row a change (the job's input payload
-- was turned into JSON only to be dropped, which was most of what a send cost a submit).
create or replace function private.job_messages(n public.job_results, e public.job_events)
returns table (topic text, message jsonb)
language sql stable
as $$
  select t.topic, jsonb_build_object(
           'job', jsonb_build_object(
             'job_id', n.job_id, 'task_name', n.task_name, 'kind', n.kind, 'status', n.status,
             'attempts', n.attempts, 'run', n.run, 'result', n.result, 'error', n.error,
             'progress', n.progress, 'progress_total', n.progress_total,
             'progress_message', n.progress_message, 'created_at', n.created_at,
             'started_at', n.started_at, 'finished_at', n.finished_at,
             'updated_at', n.updated_at, 'run_at', n.run_at,
             'cancel_requested_at', n.cancel_requested_at, 'owner_id', n.owner_id),
           'event', case when e.event_id is not null then jsonb_build_object(
             'event_id', e.event_id, 'event', e.event, 'status', e.status, 'detail', e.detail,
             'run', e.run, 'attempt', e.attempt, 'at', e.at) end)
  -- The submit itself only to the owner's topic: nobody can be following a job that did not
  -- exist, and a follower reads it (GET /jobs/<id>, events included) once it has joined. It
  -- keeps the cost of a submit to one message.
  from unnest(
    array[coalesce('jobs:user:' || n.owner_id::text, 'jobs:public')]
    || case when e.event_id is null or e.event not in ('submitted', 'scheduled')
            then array['jobs:job:' || n.job_id::text] else '{}'::text[] end
  ) as t(topic)
$$;
revoke all on function private.job_messages(public.job_results, public.job_events)
  from public, anon, authenticated;
drop function if exists private.job_messages(jsonb);

create or replace function private.broadcast_job_changes(p_topics text[], p_messages jsonb[])
returns void
language plpgsql
set search_path = pg_catalog
as $$
declare
  v_at timestamp := now();  -- what realtime.messages.inserted_at defaults to
  v_message record;
begin
  if p_topics is null or cardinality(p_topics) = 0 then
    return;
  end if;
  -- realtime.send's rows, written in one statement while today's partition of realtime.messages
  -- is there. realtime.send wraps each insert in an exception block (a subtransaction) so that a
  -- failure only warns, and a subtransaction per job would overflow the subtransaction cache of
  -- a batch submit. The failure it guards against is a missing partition: without one, this goes
  -- through realtime.send itself (a warning, nothing sent, the job's change still made).
  if to_regclass('realtime.messages_' || to_char(v_at, 'YYYY_MM_DD')) is not null then
    insert into realtime.messages
      (id, topic, extension, payload, event, private, inserted_at, updated_at)
    select m.id, m.topic, 'broadcast', m.message || jsonb_build_object('id', m.id), 'job', true,
           v_at, v_at
    from (select gen_random_uuid() as id, u.topic, u.message
          from unnest(p_topics, p_messages) as u(topic, message)) m;
  else
    for v_message in select u.topic, u.message from unnest(p_topics, p_messages) as u(topic, message)
    loop
      perform realtime.send(v_message.message, 'job', v_message.topic, true);
    end loop;
  end if;
end
$$;
revoke all on function private.broadcast_job_changes(text[], jsonb[])
  from public, anon, authenticated;
drop function if exists private.broadcast_job_changes(jsonb);

create or replace function private.record_job_events() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_topics text[];
  v_messages jsonb[];
begin
  if tg_op = 'INSERT' then
    with recorded as (
      insert into public.job_events (job_id, run, attempt, event, status, detail)
      select n.job_id, n.run, n.attempts,
             case n.status when 'scheduled' then 'scheduled' else 'submitted' end, n.status,
             case when n.status = 'scheduled' then left('due at ' || n.run_at::text, 4000) end
      from new_rows n
      returning job_events
    )
    select array_agg(m.topic), array_agg(m.message)
    into v_topics, v_messages
    from new_rows n
    join recorded r on (r.job_events).job_id = n.job_id
    cross join lateral private.job_messages(n, r.job_events) m;
    perform private.broadcast_job_changes(v_topics, v_messages);
    return null;
  end if;
  with recorded as (
    insert into public.job_events (job_id, run, attempt, event, status, detail)
    select e.job_id, e.run, e.attempts, e.event, e.status, left(e.detail, 4000)
    from (
      select n.job_id, n.run, n.attempts, n.status,
             case
               when n.run <> o.run then 'retried'
               when n.status = 'running' and n.attempts > o.attempts then 'started'
               when o.status = 'running' and n.status = 'pending'
                 then case when n.attempts < o.attempts then 'handed_back' else 'retrying' end
               when n.status <> o.status and n.status in ('completed', 'failed', 'cancelled')
                 then n.status
               when n.cancel_requested_at is not null and o.cancel_requested_at is null
                 then 'cancel_requested'
             end as event,
             case
               when n.run <> o.run then null
               when n.status = 'running' and n.attempts > o.attempts then null
               when o.status = 'running' and n.status = 'pending' then n.error
               when n.status <> o.status and n.status in ('completed', 'failed', 'cancelled')
                 then n.error
             end as detail
      from new_rows n join old_rows o on o.job_id = n.job_id
    ) e
    where e.event is not null
    returning job_events
  )
  -- A change without an event is sent too when what a watcher shows moved (progress, or a
  -- status or outcome changed by hand).
  select array_agg(m.topic), array_agg(m.message)
  into v_topics, v_messages
  from new_rows n
  join old_rows o on o.job_id = n.job_id
  left join recorded r on (r.job_events).job_id = n.job_id
  cross join lateral private.job_messages(n, r.job_events) m
  where (r.job_events).job_id is not null
     or (n.progress, n.progress_total, n.progress_message, n.status, n.attempts, n.result,
         n.error)
        is distinct from
        (o.progress, o.progress_total, o.progress_message, o.status, o.attempts, o.result,
         o.error);
  perform private.broadcast_job_changes(v_topics, v_messages);
  return null;
end
$$;
revoke all on function private.record_job_events() from public, anon, authenticated;
