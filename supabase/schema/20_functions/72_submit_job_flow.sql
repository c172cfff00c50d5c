-- Debounce: a repeated submit with the same dedup key pushes a job that has not started back
-- to p_until and gives it the latest payload. Never waits on a lock (the job's message held by a
-- claim, the job by a cancel): then the job is starting or ending, and is left as it is.
-- Returns whether it moved the job.
create or replace function private.debounce_job(p_job_id uuid, p_payload jsonb, p_until timestamptz)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_msg_id bigint;
begin
  select j.msg_id into v_msg_id from public.job_results j where j.job_id = p_job_id;
  if v_msg_id is not null then
    perform 1 from pgmq.q_work_queue q where q.msg_id = v_msg_id for update skip locked;
    if not found then
      return false;
    end if;
  end if;
  update public.job_results j
  set payload = p_payload, run_at = p_until, status = 'scheduled'
  where j.job_id in (select l.job_id from public.job_results l
                     where l.job_id = p_job_id and l.status in ('pending', 'scheduled')
                       and l.msg_id is not distinct from v_msg_id
                     for update skip locked);
  if not found then
    return false;
  end if;
  if v_msg_id is not null then
    update pgmq.q_work_queue q set vt = p_until where q.msg_id = v_msg_id;
  else
    update private.flow_waiting w set not_before = p_until where w.job_id = p_job_id;
  end if;
  return true;
end
$$;
revoke all on function private.debounce_job(uuid, jsonb, timestamptz) from public, anon, authenticated;

-- submit_job with flow settings of its own: a priority (within the kind's priority_min ..
-- priority_max, default 0 .. 10), a concurrency key and/or limit, and a dedup key: while a job
-- of the same owner with that key is unfinished (pending, scheduled or running), the answer is
-- that job with deduplicated = true and nothing is written; with debounce_seconds, a job that
-- has not started yet is pushed back to now + debounce_seconds and takes this payload (latest
-- wins; a new job with the key starts debounce_seconds from now). Atomic under concurrent
-- submits: they take the (owner, key) advisory lock, and a unique index backs it. Everything
-- else, and every error, is submit_job's.
create or replace function public.submit_job_flow(
  task_name text,
  payload jsonb default '{}'::jsonb,
  idempotency_key text default null,
  run_at timestamptz default null,
  delay_seconds double precision default null,
  kind text default null,
  priority integer default null,
  concurrency_key text default null,
  concurrency_limit integer default null,
  dedup_key text default null,
  debounce_seconds double precision default null
) returns table (job_id uuid, deduplicated boolean)
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_kind     text := coalesce(submit_job_flow.kind, private.default_kind());
  v_problem  text[] := private.new_job_problem(submit_job_flow.task_name, submit_job_flow.payload);
  v_flow     jsonb;
  v_lo       integer;
  v_hi       integer;
  v_existing uuid;
  v_status   text;
  v_run_at   timestamptz := submit_job_flow.run_at;
  v_job_id   uuid;
begin
  if v_problem is not null then
    raise exception '%', v_problem[2] using errcode = '22023', column = '/' || v_problem[1];
  end if;
  select k.flow into v_flow from public.task_kinds k where k.kind = v_kind;
  if not found then
    raise exception 'kind % is not a known task kind', coalesce(quote_literal(v_kind), 'null')
      using errcode = '22023', column = '/kind';
  end if;
  if submit_job_flow.priority is not null then
    v_lo := coalesce((v_flow ->> 'priority_min')::integer, 0);
    v_hi := coalesce((v_flow ->> 'priority_max')::integer, 10);
    if submit_job_flow.priority not between v_lo and v_hi then
      raise exception 'priority must be from % to % for kind %', v_lo, v_hi, v_kind
        using errcode = '22023', column = '/priority';
    end if;
  end if;
  if submit_job_flow.concurrency_key is not null
     and (char_length(submit_job_flow.concurrency_key) not between 1 and 200
          or submit_job_flow.concurrency_key ~ '[[:cntrl:]]') then
    raise exception 'concurrency_key must be 1 to 200 printable characters'
      using errcode = '22023', column = '/concurrency_key';
  end if;
  if submit_job_flow.concurrency_limit is not null
     and submit_job_flow.concurrency_limit not between 1 and 10000 then
    raise exception 'concurrency_limit must be from 1 to 10000'
      using errcode = '22023', column = '/concurrency_limit';
  end if;
  if submit_job_flow.dedup_key is not null
     and (char_length(submit_job_flow.dedup_key) not between 1 and 200
          or submit_job_flow.dedup_key ~ '[[:cntrl:]]') then
    raise exception 'dedup_key must be 1 to 200 printable characters'
      using errcode = '22023', column = '/dedup_key';
  end if;
  if submit_job_flow.debounce_seconds is not null then
    if submit_job_flow.dedup_key is null then
      raise exception 'debounce_seconds needs a dedup_key'
        using errcode = '22023', column = '/debounce_seconds';
    end if;
    if not (submit_job_flow.debounce_seconds between 0 and 86400) then
      raise exception 'debounce_seconds must be from 0 to 86400 (a day)'
        using errcode = '22023', column = '/debounce_seconds';
    end if;
    if submit_job_flow.run_at is not null or submit_job_flow.delay_seconds is not null then
      raise exception 'debounce_seconds sets the start; give no run_at or delay_seconds'
        using errcode = '22023', column = '/debounce_seconds';
    end if;
    v_run_at := now() + make_interval(secs => submit_job_flow.debounce_seconds);
  end if;

  if submit_job_flow.dedup_key is not null then
    perform pg_advisory_xact_lock(hashtext('supajobs.dedup'),
                                  hashtext(coalesce(auth.uid()::text, '') || ':' || submit_job_flow.dedup_key));
    select j.job_id, j.status into v_existing, v_status from public.job_results j
    where j.dedup_key = submit_job_flow.dedup_key
      and coalesce(j.owner_id, '00000000-0000-0000-0000-000000000000'::uuid)
          = coalesce(auth.uid(), '00000000-0000-0000-0000-000000000000'::uuid)
      and j.status in ('pending', 'scheduled', 'running');
    if found then
      if submit_job_flow.debounce_seconds is not null and v_status in ('pending', 'scheduled') then
        perform private.debounce_job(v_existing, coalesce(submit_job_flow.payload, '{}'::jsonb),
                                     v_run_at);
      end if;
      return query select v_existing, true;
      return;
    end if;
  end if;

  perform set_config('supajobs.flow_job', jsonb_strip_nulls(jsonb_build_object(
    'priority', submit_job_flow.priority, 'concurrency_key', submit_job_flow.concurrency_key,
    'concurrency_limit', submit_job_flow.concurrency_limit,
    'dedup_key', submit_job_flow.dedup_key))::text, true);
  v_job_id := public.submit_job(submit_job_flow.task_name, submit_job_flow.payload,
                                submit_job_flow.idempotency_key, v_run_at,
                                submit_job_flow.delay_seconds, submit_job_flow.kind);
  perform set_config('supajobs.flow_job', '', true);
  return query select v_job_id, false;
end
$$;
revoke all on function public.submit_job_flow(text, jsonb, text, timestamptz, double precision, text,
                                              integer, text, integer, text, double precision)
  from public, anon, authenticated;
grant execute on function public.submit_job_flow(text, jsonb, text, timestamptz, double precision,
                                                 text, integer, text, integer, text, double precision)
  to service_role;
