-- Issue 24's drain stall. While any transaction holds an old snapshot, the messages a drain
-- archives stay in the queue's index as dead entries, and a claim reading the queue from its
-- start walked all of them: each claim cost more than the one before. The claim now reads from
-- its session's floor (setting supajobs.claim_floor, renewed by a read from the start at least
-- every second), and the outcome write updates the very rows it locked and deletes its
-- messages by id, where the planner could read every 'running' entry of job_results_by_status
-- or scan the whole queue table.
-- Restates supabase/schema/20_functions/40_claim_jobs.sql and 42_finish_attempts.sql.

-- One claim: what a worker runs to take work.
--
-- Reads up to p_batch_size visible first deliveries of work_queue and at most one redelivery
-- (hiding them for p_visibility_s) and,
-- in a later statement (so a job committed after the read's snapshot is still seen), marks the
-- first deliveries' jobs running for a new attempt held by p_holder. A message starts its job
-- only while it is the job's current one (job_results.msg_id) and the job is pending, scheduled
-- or running; any other first delivery is archived and returned as 'skipped'. Redeliveries
-- (read_ct above 1) are returned unstarted as 'redelivered': each may be the one that crashed a
-- worker, so the worker starts and runs it alone (private.start_attempt), and a claim takes one
-- at most: the others stay visible for other workers (a killed worker's ten jobs restart on ten
-- workers, not one after another).
-- With p_wait_ms above 0 and nothing visible, it polls every p_poll_ms until something is or
-- the wait ends (as PGMQ's read_with_poll): a warm worker's fast path.
-- A claim that leaves work visible behind it asks for more workers (private.wake_workers), up to
-- the ceiling, when the worker says it may (p_scale): workers follow the backlog.
-- Locks: messages (msg_id order, skipping locked ones), then jobs (job_id order).
--
-- The claim floor: the read starts at the lowest msg_id a claim in this session took within
-- the last second (setting supajobs.claim_floor, 'msg_id/epoch'), and looks from the queue's
-- start only when nothing is visible above it or the floor is older than that. The messages a
-- drain has archived stay in the queue's index as dead entries until nothing can see them;
-- while any transaction holds an older snapshot (a long query, a backup, an ANALYZE), a read
-- from the start walks every one of them, so each claim cost more the longer the drain ran
-- (issue 24's stall). Without the floor (a new session, a pooler's other session) a claim
-- reads from the start, as before. A message that becomes visible below the floor (a retry
-- come due, a dead worker's message) waits at most a second longer for a claim.
create or replace function private.claim_jobs(
  p_holder text,
  p_batch_size integer,
  p_visibility_s integer,
  p_wait_ms integer default 0,
  p_poll_ms integer default 5,
  p_scale boolean default true
) returns table (
  msg_id bigint, read_ct integer, delivery text,
  job_id uuid, kind text, task_name text, payload jsonb, attempt integer
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
  v_job_ids uuid[];
  v_started bigint[];
  v_skipped bigint[];
  v_floor_setting text := current_setting('supajobs.claim_floor', true);
  v_floor bigint;
  v_floor_at double precision;
begin
  if v_floor_setting ~ '^[0-9]{1,19}/[0-9]+(\.[0-9]+)?$' then
    v_floor_at := split_part(v_floor_setting, '/', 2)::double precision;
    if v_floor_at > extract(epoch from clock_timestamp()) - 1 then
      v_floor := split_part(v_floor_setting, '/', 1)::bigint;
    end if;
  end if;
  loop
    -- pgmq.read's statement, written out: pgmq.read builds it with format() and plans it on
    -- every call, where this one's plan is cached. Only the columns every PGMQ version has are
    -- touched (last_read_at is left as it is).
    with picked as (
      select q.msg_id from pgmq.q_work_queue q
      where q.msg_id >= coalesce(v_floor, 0) and q.vt <= clock_timestamp()
      order by q.msg_id
      limit p_batch_size
      for update skip locked
    ), taken as (
      update pgmq.q_work_queue m
      set vt = clock_timestamp() + make_interval(secs => p_visibility_s), read_ct = m.read_ct + 1
      from picked
      where m.msg_id = picked.msg_id
      returning m.msg_id, m.read_ct, (m.message ->> 'job_id')::uuid as job_id
    )
    select coalesce(array_agg(r.msg_id order by r.msg_id), '{}'),
           array_agg(r.read_ct order by r.msg_id), array_agg(r.job_id order by r.msg_id)
      into v_msg_ids, v_read_cts, v_job_ids
    from taken r;
    if cardinality(v_msg_ids) = 0 and v_floor is not null then
      v_floor := null;  -- nothing visible above the floor: look from the start
      continue;
    end if;
    exit when cardinality(v_msg_ids) > 0 or clock_timestamp() >= v_until;
    perform pg_sleep(greatest(p_poll_ms, 1) / 1000.0);
  end loop;
  if cardinality(v_msg_ids) = 0 then
    return;
  end if;
  -- The floor moves up to this read's lowest message; a read from the start renews its time.
  if v_floor is null then
    v_floor_at := extract(epoch from clock_timestamp());
  end if;
  perform set_config('supajobs.claim_floor',
                     greatest(v_floor, v_msg_ids[1]) || '/' || v_floor_at::text, false);
  -- One redelivery a claim: the others go back as they were, visible to other workers (each
  -- may be what killed a worker, so each runs alone, and side by side on several workers).
  -- Rare, so the common claim pays nothing for it.
  if (select count(*) from unnest(v_read_cts) c where c > 1) > 1 then
    select array_agg(r.msg_id) into v_skipped
    from unnest(v_msg_ids, v_read_cts) with ordinality r(msg_id, read_ct, n)
    where r.read_ct > 1
      and r.n > (select min(f.n) from unnest(v_read_cts) with ordinality f(read_ct, n)
                 where f.read_ct > 1);
    update pgmq.q_work_queue q set vt = clock_timestamp(), read_ct = q.read_ct - 1
    where q.msg_id = any (v_skipped);
    select array_agg(r.msg_id order by r.msg_id), array_agg(r.read_ct order by r.msg_id),
           array_agg(r.job_id order by r.msg_id)
      into v_msg_ids, v_read_cts, v_job_ids
    from unnest(v_msg_ids, v_read_cts, v_job_ids) r(msg_id, read_ct, job_id)
    where r.msg_id <> all (v_skipped);
    v_skipped := null;
  end if;
  -- Jobs are locked in job_id order before any is written: the documented lock order.
  perform 1 from public.job_results j
  where j.job_id in (select r.job_id from unnest(v_job_ids, v_read_cts) r(job_id, read_ct)
                     where r.read_ct <= 1)
  order by j.job_id
  for update;
  with started as (
    update public.job_results j
    set status = 'running', attempts = j.attempts + 1, started_at = clock_timestamp(),
        error = null, claimed_by = p_holder
    from unnest(v_msg_ids, v_read_cts, v_job_ids) r(msg_id, read_ct, job_id)
    where r.read_ct <= 1 and j.job_id = r.job_id
      and j.msg_id = r.msg_id and j.status in ('pending', 'scheduled', 'running')
    returning r.msg_id
  )
  select coalesce(array_agg(s.msg_id), '{}') into v_started from started s;
  select coalesce(array_agg(r.msg_id), '{}') into v_skipped
  from unnest(v_msg_ids, v_read_cts) r(msg_id, read_ct)
  where r.read_ct <= 1 and r.msg_id <> all (v_started);
  if cardinality(v_skipped) > 0 then
    perform pgmq.archive('work_queue', v_skipped);
  end if;
  -- Asked for by the worker at most every second or so (p_scale), and looked at without the
  -- lock first: at the ceiling (the common case under load) it costs one count of a few
  -- lease rows.
  if p_scale
     and (select count(*) from private.queue_leases where expires_at > clock_timestamp())
         < private.max_workers() then
    perform private.wake_workers(private.workers_wanted(p_batch_size) + 1, 'backlog');
  end if;
  return query
  select r.msg_id, r.read_ct,
         case when r.read_ct > 1 then 'redelivered'
              when r.msg_id = any (v_skipped) then 'skipped'
              else 'started' end,
         r.job_id, j.kind, j.task_name, j.payload, j.attempts
  from unnest(v_msg_ids, v_read_cts, v_job_ids) r(msg_id, read_ct, job_id)
  left join public.job_results j on j.job_id = r.job_id and r.msg_id = any (v_started)
  order by r.msg_id;
end
$$;
revoke all on function private.claim_jobs(text, integer, integer, integer, integer, boolean) from public, anon, authenticated;

-- The outcomes of a group of attempts, recorded and their messages archived in one
-- transaction: the one terminal write of a job. An attempt that no longer owns its job (status
-- running, same attempt number) changes nothing. Returns the msg_ids recorded.
-- Locks: messages (msg_id order), then jobs (job_id order), as every writer does; the
-- heartbeat's writes skip rows locked here rather than wait (private.report_progress).
-- The archive is pgmq.archive's statement written out, so it is planned once.
create or replace function private.finish_attempts(
  p_job_ids uuid[], p_attempts integer[], p_statuses text[], p_results text[],
  p_errors text[], p_msg_ids bigint[]
) returns setof bigint
language plpgsql
as $$
declare
  v_recorded bigint[];
  v_rows tid[];
begin
  perform 1 from pgmq.q_work_queue q where q.msg_id = any (p_msg_ids) order by q.msg_id for update;
  -- The jobs' rows, locked; the update then goes to those very rows (a TID scan: locked by us,
  -- they stay where they are until we commit), and the status they must still have comes with
  -- each outcome (was), not as a constant the planner could look up in job_results_by_status.
  -- Left to the planner, the update could read every 'running' entry of that index or the
  -- whole table, and while an old snapshot is held that is every job a drain has run (dead
  -- entries cannot be pruned).
  select coalesce(array_agg(l.ctid), '{}') into v_rows
  from (select j.ctid from public.job_results j where j.job_id = any (p_job_ids)
        order by j.job_id for update) l;
  with outcome as materialized (
    select o.*, 'running'::text as was
    from unnest(p_job_ids, p_attempts, p_statuses, p_results, p_errors, p_msg_ids)
      as o(job_id, attempt, status, result, error, msg_id)
  ), recorded as (
    update public.job_results j
    set status = o.status, result = o.result, error = o.error, finished_at = now()
    from outcome o
    where j.ctid = any (v_rows) and j.job_id = o.job_id
      and j.status = o.was and j.attempts = o.attempt
    returning o.msg_id
  )
  select coalesce(array_agg(r.msg_id), '{}') into v_recorded from recorded r;
  -- The archive looks the messages up by their ids (a join with the update's rows could be
  -- planned as a scan of the whole queue table, dead rows and all).
  return query
  with archived as (
    delete from pgmq.q_work_queue q where q.msg_id = any (v_recorded)
    returning q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message
  )
  insert into pgmq.a_work_queue (msg_id, read_ct, enqueued_at, vt, message)
  select a.msg_id, a.read_ct, a.enqueued_at, a.vt, a.message from archived a
  returning msg_id;
end
$$;
revoke all on function private.finish_attempts(uuid[], integer[], text[], text[], text[], bigint[])
  from public, anon, authenticated;
