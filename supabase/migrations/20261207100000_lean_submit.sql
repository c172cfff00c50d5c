-- Issue 24: a lean, set-based submit.
-- * submit_job and submit_jobs write their queue messages with pgmq.send's insert written out
--   (planned once per session, not on every call; a delayed message gets its exact due time in
--   the one insert instead of an insert and an update).
-- * submit_jobs checks its items with one join on task_kinds instead of a lookup per item, and
--   works out each item's problem once.
-- * The job history is written by statement-level triggers with transition tables: one insert
--   of every event a statement causes (a batch of 1,000 submits, a claim of 10, a finish of
--   10), instead of one trigger call per row. private.record_job_event and its trigger are
--   replaced by private.record_job_events and two triggers.
-- * private.new_job_problem is PL/pgSQL: as a SQL function with a SET clause it was never
--   inlined and was planned again for every statement that called it.
-- Restates supabase/schema/20_functions/60_new_job_problem.sql, 63_submit_job.sql,
-- 64_submit_jobs.sql and 30_triggers/40_record_job_event.sql.

-- What is wrong with one new job, as {field, message} (field a JSON pointer below the job), or
-- null. One expression, so submit_jobs checks a whole batch in one set-based statement and
-- submit_job the same way for one; CASE tries each check only when the ones before hold.
-- The kind is checked against public.task_kinds by the callers (and by the foreign key).
-- PL/pgSQL rather than SQL: a SQL function with a SET clause is never inlined, and is planned
-- again for every statement that calls it (every submit_job); this one's expression is
-- prepared once a session (a third of the time a call).
create or replace function private.new_job_problem(p_task_name text, p_payload jsonb)
returns text[]
language plpgsql immutable parallel safe
set search_path = pg_catalog
as $$
begin
  return case
    when p_task_name is null or btrim(p_task_name) = ''
      then array['task_name', 'task_name is required and may not be blank']
    when char_length(btrim(p_task_name)) > 200
      then array['task_name', 'task_name is ' || char_length(btrim(p_task_name))
                 || ' characters long; the limit is 200']
    when btrim(p_task_name) ~ '[[:cntrl:]]'
      then array['task_name', 'task_name may not contain control characters']
    when coalesce(jsonb_typeof(p_payload), 'object') <> 'object'
      then array['payload', 'payload must be a JSON object, not ' || jsonb_typeof(p_payload)]
    -- As deep as the functions' strict JSON parser allows: no value below level 64.
    when jsonb_path_exists(p_payload, 'strict $.**{65 to last}')
      then array['payload', 'payload nests deeper than 64 levels']
    when octet_length(p_payload::text) >= 65536
      then array['payload', 'payload is ' || octet_length(p_payload::text)
                 || ' bytes as JSON; the limit is 65535']
  end;
end
$$;
revoke all on function private.new_job_problem(text, jsonb) from public, anon, authenticated;


-- submit_job: the one way a single job enters the system. The row and its queue message are
-- written in the caller's transaction, so either both exist or neither does. Starts at once,
-- or at run_at / after delay_seconds ('scheduled'). A caller mistake raises SQLSTATE 22023
-- with the field (a JSON pointer) in the error's column; SJ409 / SJ422 for idempotency keys.
create or replace function public.submit_job(
  task_name text,
  payload jsonb default '{}'::jsonb,
  idempotency_key text default null,
  run_at timestamptz default null,
  delay_seconds double precision default null,
  kind text default null
) returns uuid
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_name        text := btrim(task_name);
  v_kind        text := coalesce(submit_job.kind, private.default_kind());
  v_payload     jsonb := coalesce(submit_job.payload, '{}'::jsonb);
  v_problem     text[] := private.new_job_problem(submit_job.task_name, submit_job.payload);
  v_job_id      uuid;
  v_msg_id      bigint;
  v_fingerprint bytea;
  v_request     jsonb;
  v_run_at      timestamptz;
  v_replayed    uuid[];
begin
  if v_problem is not null then
    raise exception '%', v_problem[2] using errcode = '22023', column = '/' || v_problem[1];
  end if;
  if not exists (select from public.task_kinds k where k.kind = v_kind) then
    raise exception 'kind % is not a known task kind', coalesce(quote_literal(v_kind), 'null')
      using errcode = '22023', column = '/kind';
  end if;
  if submit_job.run_at is not null and submit_job.delay_seconds is not null then
    raise exception 'give run_at or delay_seconds, not both' using errcode = '22023', column = '/run_at';
  end if;
  if submit_job.delay_seconds is not null
     and not (submit_job.delay_seconds between 0 and 2592000) then
    raise exception 'delay_seconds must be from 0 to 2592000 (30 days)'
      using errcode = '22023', column = '/delay_seconds';
  end if;
  if submit_job.run_at is not null
     and (submit_job.run_at > now() + interval '30 days' or submit_job.run_at = 'infinity'
          or submit_job.run_at = '-infinity') then
    raise exception 'run_at must be at most 30 days ahead' using errcode = '22023', column = '/run_at';
  end if;
  v_run_at := coalesce(submit_job.run_at, now() + make_interval(secs => submit_job.delay_seconds));

  if submit_job.idempotency_key is not null then
    -- jsonb text is canonical (keys ordered, spacing fixed): the same request written
    -- differently has the same fingerprint. The start time is part of it only when given.
    v_request := jsonb_build_object('task_name', v_name, 'kind', v_kind, 'payload', v_payload);
    if submit_job.run_at is not null then
      v_request := v_request || jsonb_build_object('run_at', submit_job.run_at);
    elsif submit_job.delay_seconds is not null then
      v_request := v_request || jsonb_build_object('delay_seconds', submit_job.delay_seconds);
    end if;
    v_fingerprint := sha256(convert_to(v_request::text, 'UTF8'));
    v_replayed := private.claim_idempotency_key(submit_job.idempotency_key, v_fingerprint);
    if v_replayed is not null then
      return v_replayed[1];
    end if;
  end if;

  -- The message first, then the job that names it: each row written once. The message is
  -- pgmq.send's insert written out: pgmq.send builds its statement with format() and plans it
  -- on every call, where this one's plan is cached; and a delayed message gets its exact due
  -- time in the same insert (pgmq.send takes whole seconds, which took a second write).
  -- A message due now fires the queue's wake-up trigger; a delayed one is the sweep's.
  v_job_id := gen_random_uuid();
  insert into pgmq.q_work_queue (vt, message)
  values (case when v_run_at > now() then v_run_at else clock_timestamp() end,
          jsonb_build_object('job_id', v_job_id))
  returning msg_id into v_msg_id;
  if v_run_at is not null and v_run_at > now() then
    insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key, status, run_at)
    values (v_job_id, v_name, v_kind, v_payload, v_msg_id, submit_job.idempotency_key,
            'scheduled', v_run_at);
  else
    insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key)
    values (v_job_id, v_name, v_kind, v_payload, v_msg_id, submit_job.idempotency_key);
  end if;
  if submit_job.idempotency_key is not null then
    insert into private.idempotency_keys (key, fingerprint, job_id)
    values (submit_job.idempotency_key, v_fingerprint, v_job_id);
  end if;
  return v_job_id;
end
$$;
revoke all on function public.submit_job(text, jsonb, text, timestamptz, double precision, text)
  from public, anon, authenticated;
grant execute on function public.submit_job(text, jsonb, text, timestamptz, double precision, text)
  to service_role;

-- submit_jobs(items, idempotency_key): many jobs in one transaction, all or nothing.
--
-- items is a JSON array of 1 to 1,000 objects {task_name, kind?, payload?}, each held to
-- submit_job's rules; an error names the item ("items[3].task_name ...", column
-- /items/3/task_name) with submit_job's SQLSTATEs. Set-based: one statement checks every item,
-- one sends every message (the queue trigger decides once for the batch),
-- one inserts every row. Returns the job ids in the items' order. An Idempotency-Key covers
-- the whole batch: its fingerprint is the SHA-256 of {"items": [...]}, never equal to a single
-- job's, and a replay answers with the same ids.
create or replace function public.submit_jobs(
  items jsonb,
  idempotency_key text default null
) returns uuid[]
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_count       int;
  v_problem     record;
  v_names       text[];
  v_kinds       text[];
  v_payloads    jsonb[];
  v_job_ids     uuid[];
  v_msg_ids     bigint[];
  v_fingerprint bytea;
  v_replayed    uuid[];
  v_default     text := private.default_kind();
begin
  if items is null or jsonb_typeof(items) <> 'array' then
    raise exception 'items must be a JSON array of jobs' using errcode = '22023', column = '/items';
  end if;
  v_count := jsonb_array_length(items);
  if v_count = 0 then
    raise exception 'items is empty; send 1 to 1000 jobs' using errcode = '22023', column = '/items';
  end if;
  if v_count > 1000 then
    raise exception 'items holds % jobs; the limit is 1000', v_count
      using errcode = '22023', column = '/items';
  end if;

  -- The first bad item's problem, if any, in one statement. The kinds are looked up with one
  -- join rather than a lookup per item, and an unknown field is found by removing the known
  -- ones (no set of keys built per item).
  select e.i - 1 as at, e.problem into v_problem
  from (
    select a.i, case
      when jsonb_typeof(a.item) <> 'object'
        then array['', ' must be a JSON object like {"task_name": "..."}']
      when a.item - 'task_name' - 'kind' - 'payload' <> '{}'::jsonb
        then array['', ' has unknown field(s); a job is {task_name, kind, payload}']
      when jsonb_typeof(a.item -> 'task_name') is distinct from 'string'
        then array['/task_name', '.task_name is required and must be a string']
      when coalesce(jsonb_typeof(a.item -> 'kind'), 'null') not in ('string', 'null')
        then array['/kind', '.kind must be a string']
      when k.kind is null
        then array['/kind', '.kind ' || coalesce(quote_literal(a.item ->> 'kind'), 'null')
                   || ' is not a known task kind']
      else (select array['/' || x.p[1], '.' || x.p[2]]
            from (select private.new_job_problem(a.item ->> 'task_name',
                                                 nullif(a.item -> 'payload', 'null'::jsonb)) as p) x)
    end as problem
    from jsonb_array_elements(items) with ordinality as a(item, i)
    left join public.task_kinds k
      on jsonb_typeof(a.item) = 'object'
     and k.kind = coalesce(a.item ->> 'kind', v_default)
    offset 0  -- each item's problem worked out once, not once per use below
  ) e
  where e.problem is not null and e.problem[2] is not null
  order by e.i
  limit 1;
  if found then
    raise exception 'items[%]%', v_problem.at, v_problem.problem[2]
      using errcode = '22023', column = '/items/' || v_problem.at || v_problem.problem[1];
  end if;

  select array_agg(btrim(item ->> 'task_name') order by i),
         array_agg(coalesce(item ->> 'kind', v_default) order by i),
         array_agg(case when jsonb_typeof(item -> 'payload') = 'object'
                        then item -> 'payload' else '{}'::jsonb end order by i),
         array_agg(gen_random_uuid() order by i)
    into v_names, v_kinds, v_payloads, v_job_ids
  from jsonb_array_elements(items) with ordinality as a(item, i);

  if submit_jobs.idempotency_key is not null then
    v_fingerprint := sha256(convert_to(jsonb_build_object('items', (
      select jsonb_agg(jsonb_build_object('task_name', n, 'kind', k, 'payload', p) order by i)
      from unnest(v_names, v_kinds, v_payloads) with ordinality as u(n, k, p, i)))::text, 'UTF8'));
    v_replayed := private.claim_idempotency_key(submit_jobs.idempotency_key, v_fingerprint);
    if v_replayed is not null then
      return v_replayed;
    end if;
  end if;

  -- One statement for all messages: pgmq.send_batch's insert written out (pgmq.send_batch
  -- builds its statement with format() and plans it on every call; this plan is cached).
  -- Their msg_ids come from the queue's sequence row by row in unnest's order, so sorted
  -- they line up with the items.
  with sent as (
    insert into pgmq.q_work_queue (vt, message)
    select clock_timestamp(), jsonb_build_object('job_id', u.j)
    from unnest(v_job_ids) with ordinality as u(j, i)
    order by u.i
    returning msg_id
  )
  select array_agg(s.msg_id order by s.msg_id) into v_msg_ids from sent s;

  insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key)
  select j, n, k, p, m, submit_jobs.idempotency_key
  from unnest(v_job_ids, v_names, v_kinds, v_payloads, v_msg_ids) as u(j, n, k, p, m);

  if submit_jobs.idempotency_key is not null then
    insert into private.idempotency_keys (key, fingerprint, job_id, job_ids)
    values (submit_jobs.idempotency_key, v_fingerprint, v_job_ids[1], v_job_ids);
  end if;
  return v_job_ids;
end
$$;
revoke all on function public.submit_jobs(jsonb, text) from public, anon, authenticated;
grant execute on function public.submit_jobs(jsonb, text) to service_role;

-- Every transition of a job, and every attempt, becomes a row of public.job_events.
--
-- Statement-level, with transition tables: a statement that submits, claims or finishes many
-- jobs writes all their events in one insert (a batch of 1,000 submits is one insert of 1,000
-- events, not 1,000 trigger calls). The old row-level function, private.record_job_event, is
-- gone with its trigger.
create or replace function private.record_job_events() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  if tg_op = 'INSERT' then
    insert into public.job_events (job_id, run, attempt, event, status, detail)
    select n.job_id, n.run, n.attempts,
           case n.status when 'scheduled' then 'scheduled' else 'submitted' end, n.status,
           case when n.status = 'scheduled' then left('due at ' || n.run_at::text, 4000) end
    from new_rows n;
    return null;
  end if;
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
  where e.event is not null;
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
