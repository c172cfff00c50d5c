-- The job lifecycle: progress, cancellation, retry by hand, a history of events, delayed start.
--
--   scheduled ─(due, claimed)─▶ running ─▶ completed | failed | cancelled
--   pending   ─(claimed)──────▶ running ─(retry after an error)─▶ pending
--   pending | scheduled ─(cancel_job)─▶ cancelled
--   running ─(cancel_job: cancel_requested_at)─▶ cancelled (by the worker, or on its way back
--                                                to pending)
--   failed | cancelled ─(retry_job)─▶ pending (run + 1, attempts from 0)
--
-- Every transition is a conditional write; a BEFORE trigger turns a cancel-requested job that
-- would go back to pending or fail into cancelled, so whichever writer comes last, the job
-- ends in exactly one terminal state. An AFTER trigger records each transition in job_events.

alter table public.job_results drop constraint if exists job_results_status_check;
alter table public.job_results add constraint job_results_status_check
  check (status in ('pending', 'scheduled', 'running', 'completed', 'failed', 'cancelled'));

alter table public.job_results
  add column if not exists progress double precision,
  add column if not exists progress_total double precision,
  add column if not exists progress_message text,
  add column if not exists run_at timestamptz,
  add column if not exists cancel_requested_at timestamptz,
  add column if not exists run integer not null default 1;

create index if not exists job_results_by_status on public.job_results (status, created_at desc, job_id);

-- One row a transition or attempt, written only by triggers and security-definer functions.
create table if not exists public.job_events (
  event_id   bigint generated always as identity primary key,
  job_id     uuid not null references public.job_results (job_id) on delete cascade,
  run        integer not null,
  attempt    integer not null,
  event      text not null
             check (event in ('submitted', 'scheduled', 'started', 'retrying', 'handed_back',
                              'cancel_requested', 'cancelled', 'completed', 'failed', 'retried')),
  status     text not null,
  detail     text,
  at         timestamptz not null default clock_timestamp()
);
create index if not exists job_events_by_job on public.job_events (job_id, event_id);

alter table public.job_events enable row level security;
drop policy if exists "job events are readable by clients" on public.job_events;
create policy "job events are readable by clients" on public.job_events
  for select to anon, authenticated using (true);
revoke all on public.job_events from public, anon, authenticated;
grant select on public.job_events to anon, authenticated;
grant select on public.job_events to service_role;

-- A cancel-requested job never goes back to pending, and an attempt that fails after the
-- request ends the job cancelled.
create or replace function public.job_results_settle_cancel() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
  if new.cancel_requested_at is not null and old.status = 'running'
     and new.status in ('pending', 'failed') then
    new.status := 'cancelled';
    new.finished_at := coalesce(new.finished_at, now());
  end if;
  return new;
end
$$;
drop trigger if exists job_results_settle_cancel on public.job_results;
create trigger job_results_settle_cancel before update on public.job_results
  for each row execute function public.job_results_settle_cancel();

create or replace function private.record_job_event() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_event text;
  v_detail text;
begin
  if tg_op = 'INSERT' then
    v_event := case new.status when 'scheduled' then 'scheduled' else 'submitted' end;
    v_detail := case when new.status = 'scheduled' then 'due at ' || new.run_at::text end;
  elsif new.run <> old.run then
    v_event := 'retried';
  elsif new.status = 'running' and new.attempts > old.attempts then
    v_event := 'started';
  elsif old.status = 'running' and new.status = 'pending' then
    v_event := case when new.attempts < old.attempts then 'handed_back' else 'retrying' end;
    v_detail := new.error;
  elsif new.status <> old.status and new.status in ('completed', 'failed', 'cancelled') then
    v_event := new.status;
    v_detail := new.error;
  elsif new.cancel_requested_at is not null and old.cancel_requested_at is null then
    v_event := 'cancel_requested';
  else
    return null;
  end if;
  insert into public.job_events (job_id, run, attempt, event, status, detail)
  values (new.job_id, new.run, new.attempts, v_event, new.status, left(v_detail, 4000));
  return null;
end
$$;
revoke all on function private.record_job_event() from public, anon, authenticated;
drop trigger if exists record_job_event on public.job_results;
create trigger record_job_event after insert or update on public.job_results
  for each row execute function private.record_job_event();

-- A delayed message's wake-up is the sweeper's when it is due: no webhook call at submit.
drop trigger if exists call_job_webhook on pgmq.q_work_queue;
create trigger call_job_webhook after insert on pgmq.q_work_queue
  for each row when (new.vt <= now() + interval '1 second')
  execute function private.call_job_webhook();

-- submit_job gains the delayed start (run_at, or delay_seconds from the database's clock);
-- everything else is 20261130006000's, fingerprinted idempotency keys included.
drop function if exists public.submit_job(text, jsonb, text);
create or replace function public.submit_job(
  task_name text,
  payload jsonb default '{}'::jsonb,
  idempotency_key text default null,
  run_at timestamptz default null,
  delay_seconds double precision default null
) returns uuid
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_name        text := btrim(task_name);
  v_job_id      uuid;
  v_msg_id      bigint;
  v_fingerprint bytea;
  v_seen        bytea;
  v_run_at      timestamptz;
  v_request     jsonb;
begin
  if v_name is null or v_name = '' then
    raise exception 'task_name is required and may not be blank' using errcode = '22023';
  end if;
  if char_length(v_name) > 200 then
    raise exception 'task_name is % characters long; the limit is 200', char_length(v_name)
      using errcode = '22023';
  end if;
  if v_name ~ '[[:cntrl:]]' then
    raise exception 'task_name may not contain control characters' using errcode = '22023';
  end if;
  payload := coalesce(payload, '{}'::jsonb);
  if jsonb_typeof(payload) <> 'object' then
    raise exception 'payload must be a JSON object, not %', jsonb_typeof(payload)
      using errcode = '22023';
  end if;
  if jsonb_path_exists(payload, 'strict $.**{65 to last}') then
    raise exception 'payload nests deeper than 64 levels' using errcode = '22023';
  end if;
  if octet_length(payload::text) >= 65536 then
    raise exception 'payload is % bytes as JSON; the limit is 65535', octet_length(payload::text)
      using errcode = '22023';
  end if;
  if idempotency_key is not null
     and (char_length(idempotency_key) not between 1 and 200 or idempotency_key ~ '[[:cntrl:]]') then
    raise exception 'idempotency key must be 1 to 200 printable characters' using errcode = '22023';
  end if;
  if submit_job.run_at is not null and submit_job.delay_seconds is not null then
    raise exception 'give run_at or delay_seconds, not both' using errcode = '22023';
  end if;
  if submit_job.delay_seconds is not null
     and not (submit_job.delay_seconds between 0 and 2592000) then
    raise exception 'delay_seconds must be from 0 to 2592000 (30 days)' using errcode = '22023';
  end if;
  if submit_job.run_at is not null
     and (submit_job.run_at > now() + interval '30 days' or submit_job.run_at = 'infinity'
          or submit_job.run_at = '-infinity') then
    raise exception 'run_at must be at most 30 days ahead' using errcode = '22023';
  end if;
  v_run_at := coalesce(submit_job.run_at, now() + make_interval(secs => submit_job.delay_seconds));

  if submit_job.idempotency_key is not null then
    if not pg_try_advisory_xact_lock(
      hashtext('supajobs.idempotency_key'), hashtext(submit_job.idempotency_key)
    ) then
      raise exception 'a request with this Idempotency-Key is still being processed; retry shortly'
        using errcode = 'SJ409';
    end if;
    -- The start time is part of the request only when given, so fingerprints of requests
    -- without one are those of 20261130006000.
    v_request := jsonb_build_object('task_name', v_name, 'payload', submit_job.payload);
    if submit_job.run_at is not null then
      v_request := v_request || jsonb_build_object('run_at', submit_job.run_at);
    elsif submit_job.delay_seconds is not null then
      v_request := v_request || jsonb_build_object('delay_seconds', submit_job.delay_seconds);
    end if;
    v_fingerprint := sha256(convert_to(v_request::text, 'UTF8'));

    select k.job_id, k.fingerprint into v_job_id, v_seen
    from private.idempotency_keys k
    where k.key = submit_job.idempotency_key and k.expires_at > now();
    if found then
      if v_seen is null or v_seen = v_fingerprint then
        return v_job_id;
      end if;
      raise exception 'this Idempotency-Key was first used with a different request'
        using errcode = 'SJ422';
    end if;

    delete from private.idempotency_keys k
    where k.key = submit_job.idempotency_key
       or k.key in (select e.key from private.idempotency_keys e
                    where e.expires_at <= now()
                    order by e.expires_at limit 20
                    for update skip locked);
  end if;

  v_job_id := gen_random_uuid();
  if v_run_at is not null and v_run_at > now() then
    -- PGMQ's delayed send (whole seconds), then the exact due time.
    select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id, 'task_name', v_name),
                     ceil(extract(epoch from v_run_at - now()))::integer)
      into v_msg_id;
    update pgmq.q_work_queue set vt = v_run_at where msg_id = v_msg_id;
    insert into public.job_results (job_id, task_name, payload, msg_id, idempotency_key, status, run_at)
    values (v_job_id, v_name, submit_job.payload, v_msg_id, submit_job.idempotency_key,
            'scheduled', v_run_at);
  else
    select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id, 'task_name', v_name))
      into v_msg_id;
    insert into public.job_results (job_id, task_name, payload, msg_id, idempotency_key)
    values (v_job_id, v_name, submit_job.payload, v_msg_id, submit_job.idempotency_key);
  end if;
  if submit_job.idempotency_key is not null then
    insert into private.idempotency_keys (key, fingerprint, job_id)
    values (submit_job.idempotency_key, v_fingerprint, v_job_id);
  end if;
  return v_job_id;
end
$$;
revoke all on function public.submit_job(text, jsonb, text, timestamptz, double precision)
  from public, anon, authenticated;
grant execute on function public.submit_job(text, jsonb, text, timestamptz, double precision)
  to service_role;

-- Cancel: a job not yet running is cancelled at once and its message archived; a running one
-- is marked, and its worker ends it; a finished job is left as it is. Returns the status the
-- job had before the call (the API answers 409 for completed or failed), null for no job.
create or replace function public.cancel_job(job_id uuid) returns text
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_job record;
begin
  select j.status, j.msg_id into v_job from public.job_results j
  where j.job_id = cancel_job.job_id for update;
  if not found then
    return null;
  end if;
  if v_job.status in ('pending', 'scheduled') then
    update public.job_results
    set status = 'cancelled', finished_at = now(), cancel_requested_at = now()
    where job_id = cancel_job.job_id;
    if v_job.msg_id is not null then
      perform pgmq.archive('work_queue', v_job.msg_id);
    end if;
  elsif v_job.status = 'running' then
    update public.job_results set cancel_requested_at = coalesce(cancel_requested_at, now())
    where job_id = cancel_job.job_id;
  end if;
  return v_job.status;
end
$$;
revoke all on function public.cancel_job(uuid) from public, anon, authenticated;
grant execute on function public.cancel_job(uuid) to service_role;

-- Retry by hand: a failed or cancelled job runs again as a new run of the same job (its
-- events stay), attempts counted afresh; any other job is left as it is. Returns the status
-- the job had before the call (so failed or cancelled means it was retried), null for no job.
create or replace function public.retry_job(job_id uuid) returns text
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_job record;
  v_msg_id bigint;
begin
  select j.status, j.msg_id, j.task_name into v_job from public.job_results j
  where j.job_id = retry_job.job_id for update;
  if not found then
    return null;
  end if;
  if v_job.status not in ('failed', 'cancelled') then
    return v_job.status;
  end if;
  -- The old message, if a cancel left it queued, must not start the new run.
  if v_job.msg_id is not null then
    perform pgmq.archive('work_queue', v_job.msg_id);
  end if;
  select pgmq.send('work_queue', jsonb_build_object('job_id', retry_job.job_id,
                                                    'task_name', v_job.task_name))
    into v_msg_id;
  update public.job_results
  set status = 'pending', run = run + 1, attempts = 0, msg_id = v_msg_id, result = null,
      error = null, progress = null, progress_total = null, progress_message = null,
      cancel_requested_at = null, started_at = null, finished_at = null, run_at = null
  where job_id = retry_job.job_id;
  return v_job.status;
end
$$;
revoke all on function public.retry_job(uuid) from public, anon, authenticated;
grant execute on function public.retry_job(uuid) to service_role;
