-- Every transition of a job, and every attempt, becomes a row of public.job_events; it, every new
-- progress report and any other change of what a watcher shows are also broadcast to the job's
-- topics (private.broadcast_job_changes).
--
-- Statement-level, with transition tables: a statement that submits, claims or finishes many
-- jobs writes all their events in one insert (a batch of 1,000 submits is one insert of 1,000
-- events, not 1,000 trigger calls) and all their messages in another, built from the rows'
-- columns by private.job_messages, which the planner inlines into the statement. The old
-- row-level function, private.record_job_event, is gone with its trigger.
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

drop trigger if exists record_job_event on public.job_results;
drop function if exists private.record_job_event();
drop trigger if exists record_job_events_inserted on public.job_results;
create trigger record_job_events_inserted after insert on public.job_results
  referencing new table as new_rows
  for each statement execute function private.record_job_events();
drop trigger if exists record_job_events_updated on public.job_results;
create trigger record_job_events_updated after update on public.job_results
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.record_job_events();
