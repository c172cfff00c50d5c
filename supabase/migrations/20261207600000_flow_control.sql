-- Flow control (issue 22): dedup and debounce, per-key concurrency limits, fair shares between
-- owners, priority with ageing, a rate limit per kind; and schedules (cron, run by the sweep). Restates the schema folder's new and
-- changed files: task_kinds.flow, job_results' flow columns, private.flow_* tables and
-- functions, submit_job_flow, job_wait_reason, the flow_release trigger, and the one check each
-- of submit_job, submit_jobs, retry_job, sweep and publish_kinds gained.
alter table public.task_kinds
  add column if not exists flow jsonb not null default '{}'::jsonb
    constraint task_kinds_flow_check check (jsonb_typeof(flow) = 'object');
alter table public.job_results
  add column if not exists dedup_key text,
  add column if not exists priority integer,
  add column if not exists concurrency_key text,
  add column if not exists concurrency_limit integer,
  add column if not exists flow_controlled boolean not null default false,
  add column if not exists schedule_id uuid;
create unique index if not exists job_results_one_unfinished_dedup
  on public.job_results (dedup_key, coalesce(owner_id, '00000000-0000-0000-0000-000000000000'::uuid))
  where dedup_key is not null and status in ('pending', 'scheduled', 'running');

-- 10_tables/70_flow.sql
-- Flow control's own state (private.flow_admit reads and writes it under the kind's lock).
--
-- A job of a kind that declares flow control (task_kinds.flow), or submitted with a priority or
-- a concurrency key, gets no queue message at submit: it waits in flow_waiting until
-- flow_admit sends its message, which it does only while the kind's limits allow. From then
-- until it finishes the job holds a slot (flow_slots), retries and redeliveries included, so the
-- jobs running under a key never outnumber its slots. A worker killed mid-job leaves its job
-- running in its slot; the sweep makes its message visible when the lease lapses and the next
-- worker runs it in the same slot. Claims never see a blocked job, so they never wait on one.

-- Jobs not yet admitted. sort_at is created_at moved earlier by priority × the kind's ageing
-- step: among one owner's jobs the earliest sort_at goes first (see flow_admit for the rule).
create table if not exists private.flow_waiting (
  job_id     uuid primary key references public.job_results (job_id) on delete cascade,
  kind       text not null,
  -- The fair-share key: the owner ('' for public jobs), or '' for all when the kind is not fair.
  fair_key   text not null,
  sort_at    timestamptz not null,
  -- A delayed job is not admitted before its start (run_at).
  not_before timestamptz,
  ckey       text,
  climit     integer
);
create index if not exists flow_waiting_next on private.flow_waiting (kind, fair_key, sort_at, job_id);
revoke all on private.flow_waiting from public, anon, authenticated;

-- Admitted jobs not yet finished: one slot each.
create table if not exists private.flow_slots (
  job_id    uuid primary key references public.job_results (job_id) on delete cascade,
  kind      text not null,
  ckey      text,
  -- When its message becomes visible (later than admitted_at under a rate limit).
  starts_at timestamptz not null
);
create index if not exists flow_slots_by_key on private.flow_slots (kind, ckey);
revoke all on private.flow_slots from public, anon, authenticated;

-- Round robin between the fair-share keys of a kind: the one served longest ago goes first.
create table if not exists private.flow_owners (
  kind      text not null,
  fair_key  text not null,
  waiting   integer not null default 0,
  served_at timestamptz,
  primary key (kind, fair_key)
);
revoke all on private.flow_owners from public, anon, authenticated;

-- A kind's rate limit as a token bucket, kept as GCRA's theoretical arrival time: the next
-- start may be at tat - (burst - 1) × interval at the earliest.
create table if not exists private.flow_buckets (
  kind text primary key,
  tat  timestamptz not null
);
revoke all on private.flow_buckets from public, anon, authenticated;

-- 10_tables/80_job_schedules.sql
-- Recurring jobs: each due time of a schedule's cron expression (five fields, UTC) submits one
-- ordinary job (private.run_schedules, run by the sweep: Supabase Cron where pg_cron serves the
-- database, the local stack's sweeper otherwise). next_run_at is the next due time; a run
-- missed while nothing swept (the database down) runs once, and the next is counted from then.
create table if not exists private.job_schedules (
  schedule_id uuid primary key default gen_random_uuid(),
  name        text not null
              constraint job_schedules_name_check check (name ~ '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$'),
  -- The user whose jobs these are (null: public demo jobs), as submit_job would record them.
  owner_id    uuid,
  cron        text not null,
  task_name   text not null,
  kind        text not null references public.task_kinds (kind),
  payload     jsonb not null default '{}'::jsonb,
  paused      boolean not null default false,
  next_run_at timestamptz not null,
  last_run_at timestamptz,
  last_job_id uuid,
  created_at  timestamptz not null default now()
);
create unique index if not exists job_schedules_owner_name
  on private.job_schedules (coalesce(owner_id, '00000000-0000-0000-0000-000000000000'::uuid), name);
create index if not exists job_schedules_due on private.job_schedules (next_run_at) where not paused;
revoke all on private.job_schedules from public, anon, authenticated;

-- 20_functions/50_sweep.sql
-- The sweep, run every 2 seconds by Supabase Cron (pg_cron, see 60_schedules/) or, where
-- there is none, by the local stack's sweeper with this same call. It is what recovers from
-- every lost arrow:
-- 1. a worker whose lease lapsed (it missed its heartbeats: killed, lost its database, ran out
--    of time) is gone: its lease is dropped and its running attempts' messages are made
--    visible at once, rather than after their visibility timeout;
-- 2. wake-ups older than any signed call's window are forgotten;
-- 3. visible work (released above, come due, a retry, a lost call) with too few workers gets
--    wake-ups through the same signed path as an enqueue.
-- Returns what it did.
create or replace function private.sweep(p_batch_size integer default 10) returns jsonb
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_dead text[];
  v_released integer;
  v_woken integer := 0;
begin
  with dead as (
    delete from private.queue_leases where expires_at <= clock_timestamp() returning holder
  )
  select coalesce(array_agg(holder), '{}') into v_dead from dead;
  with released as (
    update pgmq.q_work_queue q set vt = clock_timestamp()
    where q.vt > clock_timestamp()
      and q.msg_id in (select j.msg_id from public.job_results j
                       where j.status = 'running' and j.claimed_by = any (v_dead))
    returning q.msg_id
  )
  select count(*) into v_released from released;
  delete from private.wake_ups where sent_at < clock_timestamp() - interval '10 minutes';
  -- Schedules that are due submit their jobs, and flow control catches up (delayed and
  -- rate-limited jobs): their messages are sent here, so the look below sees them.
  perform private.run_schedules();
  perform private.flow_sweep();
  if exists (select from pgmq.q_work_queue q where q.vt <= clock_timestamp()) then
    v_woken := private.wake_workers(private.workers_wanted(p_batch_size), 'sweep');
  end if;
  return jsonb_build_object('dead_leases', cardinality(v_dead), 'released', v_released,
                            'woken', v_woken);
end
$$;
revoke all on function private.sweep(integer) from public, anon, authenticated;

-- 20_functions/63_submit_job.sql
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
  v_flow        boolean;
begin
  if v_problem is not null then
    raise exception '%', v_problem[2] using errcode = '22023', column = '/' || v_problem[1];
  end if;
  -- Flow control's one check on the plain path: the kind's settings (task_kinds.flow) and
  -- the submitter's (submit_job_flow sets supajobs.flow_job).
  select k.flow <> '{}'::jsonb or coalesce(current_setting('supajobs.flow_job', true), '') <> ''
    into v_flow from public.task_kinds k where k.kind = v_kind;
  if not found then
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

  if v_flow then
    v_job_id := private.flow_create_job(v_name, v_kind, v_payload, v_run_at,
                                        submit_job.idempotency_key);
    if submit_job.idempotency_key is not null then
      insert into private.idempotency_keys (key, fingerprint, job_id)
      values (submit_job.idempotency_key, v_fingerprint, v_job_id);
    end if;
    return v_job_id;
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

-- 20_functions/64_submit_jobs.sql
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

  -- Flow control's one check on the plain path: any kind of the batch that declares it.
  if exists (select from public.task_kinds k
             where k.kind = any (v_kinds) and k.flow <> '{}'::jsonb) then
    perform private.flow_create_jobs(v_job_ids, v_names, v_kinds, v_payloads,
                                     submit_jobs.idempotency_key);
    if submit_jobs.idempotency_key is not null then
      insert into private.idempotency_keys (key, fingerprint, job_id, job_ids)
      values (submit_jobs.idempotency_key, v_fingerprint, v_job_ids[1], v_job_ids);
    end if;
    return v_job_ids;
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

-- 20_functions/66_retry_job.sql
-- Retry by hand: a failed or cancelled job runs again as a new run of the same job (its
-- events stay), attempts counted afresh, with a new message; any other job is left as it is.
-- Returns the status the job had before the call (so failed or cancelled means it was
-- retried), null for no job.
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
  select j.status, j.msg_id, j.kind, j.flow_controlled into v_job from public.job_results j
  where j.job_id = retry_job.job_id for update;
  if not found then
    return null;
  end if;
  if v_job.status not in ('failed', 'cancelled') then
    return v_job.status;
  end if;
  -- The old message, if a cancel left it queued, must not start the new run (nor will it: it
  -- is no longer the job's current message).
  perform private.archive_unlocked(v_job.msg_id);
  -- A flow-controlled job waits in line again (private.flow_admit sends its message).
  if v_job.flow_controlled then
    perform private.flow_lock(v_job.kind);
  else
    select pgmq.send('work_queue', jsonb_build_object('job_id', retry_job.job_id)) into v_msg_id;
  end if;
  update public.job_results
  set status = 'pending', run = run + 1, attempts = 0, msg_id = v_msg_id, result = null,
      error = null, progress = null, progress_total = null, progress_message = null,
      cancel_requested_at = null, started_at = null, finished_at = null, run_at = null,
      claimed_by = null
  where job_id = retry_job.job_id;
  if v_job.flow_controlled then
    perform private.flow_enqueue(array[retry_job.job_id]);
    perform private.flow_admit(v_job.kind);
  end if;
  return v_job.status;
end
$$;
revoke all on function public.retry_job(uuid) from public, anon, authenticated;
grant execute on function public.retry_job(uuid) to service_role;

-- 20_functions/67_publish_kinds.sql
-- A worker publishes its task registry at cold start: each kind added or updated (kinds not
-- given stay: another worker version may run them), and the default kind, when given, made the
-- only default. kinds is a JSON array of {kind, description, payload_schema, time_limit_s,
-- is_default, flow} (flow: the kind's flow-control settings, see private.flow_admit; none when
-- left out).
create or replace function private.publish_kinds(p_kinds jsonb) returns void
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  if exists (select from jsonb_to_recordset(p_kinds) as k(is_default boolean) where k.is_default) then
    update public.task_kinds t set is_default = false
    where t.is_default and t.kind not in (
      select k.kind from jsonb_to_recordset(p_kinds) as k(kind text, is_default boolean)
      where k.is_default);
  end if;
  insert into public.task_kinds as t (kind, description, payload_schema, time_limit_s, is_default,
                                      flow)
  select k.kind, k.description, k.payload_schema, k.time_limit_s, coalesce(k.is_default, false),
         coalesce(k.flow, '{}'::jsonb)
  from jsonb_to_recordset(p_kinds)
    as k(kind text, description text, payload_schema jsonb, time_limit_s double precision,
         is_default boolean, flow jsonb)
  on conflict (kind) do update
  set description = excluded.description, payload_schema = excluded.payload_schema,
      time_limit_s = excluded.time_limit_s, published_at = now(), flow = excluded.flow,
      is_default = excluded.is_default or (t.is_default and not exists (
        select from jsonb_to_recordset(p_kinds) as d(is_default boolean) where d.is_default));
end
$$;
revoke all on function private.publish_kinds(jsonb) from public, anon, authenticated;

-- 20_functions/70_flow_admit.sql
-- A kind's flow lock (transaction-scoped advisory lock): every writer of the flow tables takes
-- it first. A transaction may come to need several kinds' locks (a worker finishing jobs of two
-- kinds in one batch, a batch submit, the sweep), so they are taken in one order, by the kind's
-- hash: a lock after one of a higher hash is only tried, never waited for, and so is one after
-- the wake-up protocol's locks (private.flow_wake defers admission's own). Returns whether the
-- lock is held; without it a writer's row writes are still safe (admission skips locked
-- rows), it just leaves admitting to the lock's holder, the next finish or the sweep.
create or replace function private.flow_lock(p_kind text) returns boolean
language plpgsql
set search_path = pg_catalog
as $$
declare
  v_key  integer := hashtext(p_kind);
  v_held bigint := nullif(current_setting('supajobs.flow_lock_max', true), '')::bigint;
  -- An enqueue earlier in the transaction may hold the wake-up protocol's locks, which come
  -- after every kind's lock: then a kind's lock is only tried.
  v_wake_locked boolean := current_setting('supajobs.wake_decided', true) = 'yes'
    and coalesce(current_setting('supajobs.flow_wake', true), '') <> 'pending';
begin
  if not v_wake_locked and (v_held is null or v_key >= v_held) then
    perform pg_advisory_xact_lock(hashtext('supajobs.flow'), v_key);
    perform set_config('supajobs.flow_lock_max', v_key::text, true);
    return true;
  end if;
  return pg_try_advisory_xact_lock(hashtext('supajobs.flow'), v_key);
end
$$;
revoke all on function private.flow_lock(text) from public, anon, authenticated;

-- Flow control's one decision: which waiting jobs of p_kind start now (their message is sent)
-- and when. Called under the kind's advisory lock (taken here; every writer of the flow tables
-- takes it first, so they never wait on each other in a cycle) at submit, when a slot frees
-- (private.flow_release), on a manual retry and by the sweep. Returns how many it admitted.
--
-- The kind's settings (task_kinds.flow, all optional):
--   max_running        jobs of the kind admitted and unfinished at once;
--   concurrency_limit  the same per concurrency key (the job's concurrency_key / _limit);
--   fair               (default true) round robin between owners: the owner served longest ago
--                      whose next job may start goes first;
--   priority_step_s    (default 60) the ageing rule: a job's place among its owner's jobs is
--                      its submit time moved earlier by priority × priority_step_s, so a job
--                      waits behind higher-priority jobs submitted at most
--                      (priority difference × step) seconds after it, never forever;
--   rate_limit, rate_period_s (default 1), rate_burst (default 1): a token bucket (GCRA).
--                      A job admitted without a token gets its message with a visibility at
--                      its token's time: the start is scheduled, not polled for, and the
--                      delayed message is woken for like any delayed job (the sweep). Jobs are
--                      scheduled at most RATE_HORIZON_S ahead; the next admission (a finish,
--                      a submit, the sweep) schedules further.
-- Locks: the kind's lock, then job rows SKIP LOCKED (a job being cancelled is passed over), then
-- the new message (the queue's trigger takes WAKE_LOCK shared as for any enqueue).
create or replace function private.flow_admit(p_kind text) returns integer
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  c_rate_horizon_s constant double precision := 5;
  v_flow         jsonb;
  v_max_running  integer;
  v_interval     double precision;
  v_tau          double precision;
  v_tat          timestamptz;
  v_base         timestamptz;
  v_now          timestamptz;
  v_start        timestamptz;
  v_owner        text;
  v_job_id       uuid;
  v_fair_key     text;
  v_ckey         text;
  v_skip         uuid[] := '{}';
  v_msg_id       bigint;
  v_admitted     integer := 0;
begin
  if not private.flow_lock(p_kind) then
    return 0;
  end if;
  select k.flow into v_flow from public.task_kinds k where k.kind = p_kind;
  v_flow := coalesce(v_flow, '{}'::jsonb);
  v_max_running := (v_flow ->> 'max_running')::integer;
  if v_flow ? 'rate_limit' then
    v_interval := coalesce((v_flow ->> 'rate_period_s')::double precision, 1)
                  / (v_flow ->> 'rate_limit')::double precision;
    v_tau := (coalesce((v_flow ->> 'rate_burst')::double precision, 1) - 1) * v_interval;
    select b.tat into v_tat from private.flow_buckets b where b.kind = p_kind;
  end if;
  loop
    v_now := clock_timestamp();
    if v_max_running is not null
       and (select count(*) from private.flow_slots s where s.kind = p_kind) >= v_max_running then
      exit;
    end if;
    v_start := v_now;
    if v_interval is not null then
      v_base := greatest(coalesce(v_tat, '-infinity'::timestamptz),
                         v_now - make_interval(secs => v_tau));
      v_start := greatest(v_base, v_now);
      exit when v_start > v_now + make_interval(secs => c_rate_horizon_s);
    end if;
    -- The next job: owners in round-robin order, each one's first job by sort_at whose
    -- concurrency key has a free slot. Blocked keys are passed over, never waited for.
    v_job_id := null;
    for v_owner in
      select o.fair_key from private.flow_owners o
      where o.kind = p_kind and o.waiting > 0
      order by o.served_at nulls first, o.fair_key
    loop
      select w.job_id, w.fair_key, w.ckey into v_job_id, v_fair_key, v_ckey
      from private.flow_waiting w
      where w.kind = p_kind and w.fair_key = v_owner
        and (w.not_before is null or w.not_before <= v_now)
        and w.job_id <> all (v_skip)
        and (w.ckey is null
             or (select count(*) from private.flow_slots s
                 where s.kind = p_kind and s.ckey = w.ckey) < w.climit)
      order by w.sort_at, w.job_id
      limit 1;
      exit when found;
    end loop;
    exit when v_job_id is null;
    perform 1 from public.job_results j where j.job_id = v_job_id for update skip locked;
    if not found then
      v_skip := v_skip || v_job_id;
      continue;
    end if;
    if v_start > v_now then
      select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id),
                       ceil(extract(epoch from v_start - v_now))::integer)
        into v_msg_id;
      update pgmq.q_work_queue q set vt = v_start where q.msg_id = v_msg_id;
    else
      -- The wake-up decision for this message waits for the commit (private.flow_wake): taken
      -- here, its locks would come before the next kind's lock this transaction may need.
      if coalesce(current_setting('supajobs.wake_decided', true), '') <> 'yes' then
        perform set_config('supajobs.wake_decided', 'yes', true);
        perform set_config('supajobs.flow_wake', 'pending', true);
      end if;
      select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id)) into v_msg_id;
    end if;
    update public.job_results j set msg_id = v_msg_id where j.job_id = v_job_id;
    delete from private.flow_waiting w where w.job_id = v_job_id;
    insert into private.flow_slots (job_id, kind, ckey, starts_at)
    values (v_job_id, p_kind, v_ckey, v_start);
    update private.flow_owners o set waiting = o.waiting - 1, served_at = clock_timestamp()
    where o.kind = p_kind and o.fair_key = v_fair_key;
    if v_interval is not null then
      v_tat := v_base + make_interval(secs => v_interval);
    end if;
    v_admitted := v_admitted + 1;
  end loop;
  if v_interval is not null and v_tat is not null then
    insert into private.flow_buckets as b (kind, tat) values (p_kind, v_tat)
    on conflict (kind) do update set tat = excluded.tat;
  end if;
  return v_admitted;
end
$$;
revoke all on function private.flow_admit(text) from public, anon, authenticated;

-- 20_functions/71_flow_enqueue.sql
-- The concurrency key a new job counts against, from its kind's settings: the kind's
-- concurrency_key expression is 'kind' (one key for the kind), 'owner' (one per user; public
-- jobs share one) or 'payload.<field>' (one per value of that top-level payload field). Null
-- when the kind declares no concurrency_limit.
create or replace function private.flow_key(p_flow jsonb, p_owner uuid, p_payload jsonb)
returns text
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select case
    when p_flow ->> 'concurrency_limit' is null then null
    when coalesce(p_flow ->> 'concurrency_key', 'kind') = 'kind' then 'kind'
    when p_flow ->> 'concurrency_key' = 'owner' then 'owner:' || coalesce(p_owner::text, 'public')
    when p_flow ->> 'concurrency_key' like 'payload.%'
      then (p_flow ->> 'concurrency_key') || '='
           || coalesce(p_payload ->> substr(p_flow ->> 'concurrency_key', 9), '')
  end
$$;
revoke all on function private.flow_key(jsonb, uuid, jsonb) from public, anon, authenticated;

-- Puts jobs, already written with no message, in line to be admitted (private.flow_admit).
-- The caller holds the kinds' locks. One row per job in flow_waiting; each owner's waiting count.
create or replace function private.flow_enqueue(p_job_ids uuid[]) returns void
language sql
security definer
set search_path = pg_catalog
as $$
  with jobs as (
    select j.job_id, j.kind,
           case when coalesce((k.flow ->> 'fair')::boolean, true)
                then coalesce(j.owner_id::text, '') else '' end as fair_key,
           j.created_at - make_interval(secs => coalesce(j.priority, 0)
                 * coalesce((k.flow ->> 'priority_step_s')::double precision, 60)) as sort_at,
           case when j.status = 'scheduled' then j.run_at end as not_before,
           j.concurrency_key, j.concurrency_limit
    from public.job_results j join public.task_kinds k on k.kind = j.kind
    where j.job_id = any (p_job_ids)
  ), waiting as (
    insert into private.flow_waiting (job_id, kind, fair_key, sort_at, not_before, ckey, climit)
    select job_id, kind, fair_key, sort_at, not_before, concurrency_key, concurrency_limit from jobs
    returning kind, fair_key
  )
  insert into private.flow_owners as o (kind, fair_key, waiting)
  select w.kind, w.fair_key, count(*) from waiting w group by w.kind, w.fair_key
  on conflict (kind, fair_key) do update set waiting = o.waiting + excluded.waiting
$$;
revoke all on function private.flow_enqueue(uuid[]) from public, anon, authenticated;

-- Writes one new job for submit_job when its kind declares flow control or its submitter gave
-- flow settings (in the transaction's supajobs.flow_job, set by submit_job_flow). Arguments are
-- submit_job's, already checked. A job with only a dedup key takes the plain path (a message
-- now); any other waits for flow_admit, which this calls.
create or replace function private.flow_create_job(
  p_name text, p_kind text, p_payload jsonb, p_run_at timestamptz, p_idempotency_key text
) returns uuid
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_given    jsonb := coalesce(nullif(current_setting('supajobs.flow_job', true), ''), '{}')::jsonb;
  v_flow     jsonb;
  v_owner    uuid := auth.uid();
  v_priority integer := (v_given ->> 'priority')::integer;
  v_climit   integer;
  v_ckey     text;
  v_delayed  boolean := p_run_at is not null and p_run_at > now();
  v_job_id   uuid := gen_random_uuid();
  v_msg_id   bigint;
begin
  select k.flow into v_flow from public.task_kinds k where k.kind = p_kind;
  v_climit := coalesce((v_given ->> 'concurrency_limit')::integer,
                       (v_flow ->> 'concurrency_limit')::integer);
  v_ckey := coalesce(v_given ->> 'concurrency_key',
                     private.flow_key(v_flow || jsonb_build_object('concurrency_limit', v_climit),
                                      v_owner, p_payload));
  if v_ckey is not null and v_climit is null then
    raise exception 'concurrency_key needs a concurrency_limit (kind % declares none)', p_kind
      using errcode = '22023', column = '/concurrency_limit';
  end if;
  if v_flow = '{}'::jsonb and v_ckey is null and v_priority is null then
    if v_delayed then
      select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id),
                       ceil(extract(epoch from p_run_at - now()))::integer) into v_msg_id;
      update pgmq.q_work_queue set vt = p_run_at where msg_id = v_msg_id;
    else
      select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id)) into v_msg_id;
    end if;
    insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key,
                                    status, run_at, dedup_key)
    values (v_job_id, p_name, p_kind, p_payload, v_msg_id, p_idempotency_key,
            case when v_delayed then 'scheduled' else 'pending' end,
            case when v_delayed then p_run_at end, v_given ->> 'dedup_key');
    return v_job_id;
  end if;
  perform private.flow_lock(p_kind);
  insert into public.job_results (job_id, task_name, kind, payload, idempotency_key, status,
                                  run_at, dedup_key, priority, concurrency_key,
                                  concurrency_limit, flow_controlled)
  values (v_job_id, p_name, p_kind, p_payload, p_idempotency_key,
          case when v_delayed then 'scheduled' else 'pending' end,
          case when v_delayed then p_run_at end, v_given ->> 'dedup_key', v_priority, v_ckey,
          case when v_ckey is not null then v_climit end, true);
  perform private.flow_enqueue(array[v_job_id]);
  perform private.flow_admit(p_kind);
  return v_job_id;
end
$$;
revoke all on function private.flow_create_job(text, text, jsonb, timestamptz, text)
  from public, anon, authenticated;

-- submit_jobs' items when any is of a kind that declares flow control: the plain ones as
-- submit_jobs writes them (a message each), the others waiting for flow_admit. The kinds'
-- locks are taken in their order (private.flow_lock).
create or replace function private.flow_create_jobs(
  p_job_ids uuid[], p_names text[], p_kinds text[], p_payloads jsonb[], p_idempotency_key text
) returns void
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_kind  text;
  v_owner uuid := auth.uid();
begin
  perform private.flow_lock(f.kind)
  from (select distinct k.kind, hashtext(k.kind) as h from public.task_kinds k
        where k.kind = any (p_kinds) and k.flow <> '{}'::jsonb order by h) f;
  with items as (
    select u.j, u.n, u.k, u.p, u.i, k.flow
    from unnest(p_job_ids, p_names, p_kinds, p_payloads) with ordinality as u(j, n, k, p, i)
    join public.task_kinds k on k.kind = u.k
  ), plain as (
    select i.*, row_number() over (order by i.i) as r from items i where i.flow = '{}'::jsonb
  ), sent as (
    select m, row_number() over (order by m) as r
    from pgmq.send_batch('work_queue', (
      select array_agg(jsonb_build_object('job_id', p.j) order by p.i) from plain p)) as m
  )
  insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key,
                                  concurrency_key, concurrency_limit, flow_controlled)
  select i.j, i.n, i.k, i.p, s.m, p_idempotency_key,
         private.flow_key(i.flow, v_owner, i.p), (i.flow ->> 'concurrency_limit')::integer,
         i.flow <> '{}'::jsonb
  from items i
  left join plain p on p.i = i.i
  left join sent s on s.r = p.r;
  perform private.flow_enqueue(array(
    select u.j from unnest(p_job_ids, p_kinds) as u(j, k)
    join public.task_kinds k on k.kind = u.k where k.flow <> '{}'::jsonb));
  for v_kind in
    select f.kind from (select distinct k.kind, hashtext(k.kind) as h from public.task_kinds k
                        where k.kind = any (p_kinds) and k.flow <> '{}'::jsonb) f
    order by f.h
  loop
    perform private.flow_admit(v_kind);
  end loop;
end
$$;
revoke all on function private.flow_create_jobs(uuid[], text[], text[], jsonb[], text)
  from public, anon, authenticated;

-- 20_functions/72_submit_job_flow.sql
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

-- 20_functions/73_flow_sweep.sql
-- The sweep's part of flow control: admits what may start in every kind with jobs waiting
-- (delayed jobs come due, rate-limited jobs beyond the last admission's horizon). Every other
-- admission happens when something changes (a submit, a finish), so this only catches up.
create or replace function private.flow_sweep() returns integer
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_kind text;
  v_admitted integer := 0;
begin
  for v_kind in
    select k.kind from (select distinct o.kind from private.flow_owners o where o.waiting > 0) k
    order by hashtext(k.kind)
  loop
    v_admitted := v_admitted + private.flow_admit(v_kind);
  end loop;
  return v_admitted;
end
$$;
revoke all on function private.flow_sweep() from public, anon, authenticated;

-- Why a job has not started, for the page and the API: null when it is not waiting, else
-- {reason, message, ...}: 'concurrency' (running of limit for its key), 'max_running' (of the
-- kind), 'rate_limited' (until when), 'scheduled' (its start), 'queued' (its turn, with how many
-- of its owner's jobs go first) or 'admitted' (its message is in the queue).
create or replace function private.flow_wait_reason(job_id uuid) returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_job     record;
  v_wait    record;
  v_flow    jsonb;
  v_running bigint;
  v_starts  timestamptz;
begin
  select j.status, j.kind, j.run_at, j.flow_controlled, j.concurrency_key, j.concurrency_limit
    into v_job from public.job_results j where j.job_id = flow_wait_reason.job_id;
  if not found or v_job.status not in ('pending', 'scheduled') then
    return null;
  end if;
  select s.starts_at into v_starts from private.flow_slots s where s.job_id = flow_wait_reason.job_id;
  if found then
    if v_starts > clock_timestamp() then
      return jsonb_build_object('reason', 'rate_limited', 'until', v_starts,
        'message', 'rate limited until ' || to_char(v_starts at time zone 'UTC', 'HH24:MI:SS') || ' UTC');
    end if;
    return jsonb_build_object('reason', 'admitted', 'message', 'in the queue, waiting for a worker');
  end if;
  select w.* into v_wait from private.flow_waiting w where w.job_id = flow_wait_reason.job_id;
  if not found then
    if v_job.status = 'scheduled' then
      return jsonb_build_object('reason', 'scheduled', 'until', v_job.run_at,
        'message', 'scheduled for ' || to_char(v_job.run_at at time zone 'UTC', 'HH24:MI:SS') || ' UTC');
    end if;
    return jsonb_build_object('reason', 'queued', 'message', 'in the queue, waiting for a worker');
  end if;
  if v_wait.not_before > clock_timestamp() then
    return jsonb_build_object('reason', 'scheduled', 'until', v_wait.not_before,
      'message', 'scheduled for ' || to_char(v_wait.not_before at time zone 'UTC', 'HH24:MI:SS') || ' UTC');
  end if;
  select k.flow into v_flow from public.task_kinds k where k.kind = v_job.kind;
  if v_wait.ckey is not null then
    select count(*) into v_running from private.flow_slots s
    where s.kind = v_job.kind and s.ckey = v_wait.ckey;
    if v_running >= v_wait.climit then
      return jsonb_build_object('reason', 'concurrency', 'key', v_wait.ckey, 'running', v_running,
        'limit', v_wait.climit,
        'message', 'waiting: ' || v_running || ' of ' || v_wait.climit || ' running for '
                   || case when v_wait.ckey like 'owner:%' then 'this user'
                           when v_wait.ckey = 'kind' then 'this kind'
                           else v_wait.ckey end);
    end if;
  end if;
  if v_flow ? 'max_running' then
    select count(*) into v_running from private.flow_slots s where s.kind = v_job.kind;
    if v_running >= (v_flow ->> 'max_running')::bigint then
      return jsonb_build_object('reason', 'max_running', 'running', v_running,
        'limit', (v_flow ->> 'max_running')::integer,
        'message', 'waiting: ' || v_running || ' of ' || (v_flow ->> 'max_running') || ' running for this kind');
    end if;
  end if;
  select b.tat into v_starts from private.flow_buckets b where b.kind = v_job.kind;
  if v_starts > clock_timestamp() then
    return jsonb_build_object('reason', 'rate_limited', 'until', v_starts,
      'message', 'rate limited until ' || to_char(v_starts at time zone 'UTC', 'HH24:MI:SS') || ' UTC');
  end if;
  return jsonb_build_object('reason', 'queued', 'ahead', (
      select count(*) from private.flow_waiting w
      where w.kind = v_wait.kind and w.fair_key = v_wait.fair_key
        and (w.sort_at, w.job_id) < (v_wait.sort_at, v_wait.job_id)),
    'message', 'waiting its turn among its owner''s jobs');
end
$$;
revoke all on function private.flow_wait_reason(uuid) from public, anon, authenticated;

-- The API's view: flow_wait_reason, and for a job a schedule submitted, which one.
create or replace function public.job_wait_reason(job_id uuid) returns jsonb
language sql
stable
security definer
set search_path = pg_catalog
as $$
  select case when r.w is null or s.name is null then r.w
              else r.w || jsonb_build_object('schedule', s.name,
                                             'message', 'scheduled by ' || s.name || '; '
                                                        || (r.w ->> 'message'))
         end
  from (select private.flow_wait_reason(job_wait_reason.job_id) as w) r
  left join public.job_results j on j.job_id = job_wait_reason.job_id
  left join private.job_schedules s on s.schedule_id = j.schedule_id
$$;
revoke all on function public.job_wait_reason(uuid) from public, anon, authenticated;
grant execute on function public.job_wait_reason(uuid) to service_role;

-- 20_functions/74_cron_next.sql
-- The values one field of a cron expression allows: '*', 'n', 'a-b', with '/step', in a
-- comma-separated list, each within lo..hi. Null when the field is not valid.
create or replace function private.cron_field(p_field text, p_lo integer, p_hi integer)
returns integer[]
language plpgsql immutable
set search_path = pg_catalog
as $$
declare
  v_part  text;
  v_match text[];
  v_from  integer;
  v_to    integer;
  v_step  integer;
  v_out   integer[] := '{}';
begin
  foreach v_part in array string_to_array(p_field, ',') loop
    v_match := regexp_match(v_part, '^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:/(\d{1,2}))?$');
    if v_match is null then
      return null;
    end if;
    if v_match[1] = '*' then
      v_from := p_lo;
      v_to := p_hi;
    else
      v_from := v_match[2]::integer;
      v_to := coalesce(v_match[3]::integer, case when v_match[4] is null then v_from else p_hi end);
    end if;
    v_step := coalesce(v_match[4]::integer, 1);
    if v_from < p_lo or v_to > p_hi or v_from > v_to or v_step < 1 then
      return null;
    end if;
    v_out := v_out || array(select generate_series(v_from, v_to, v_step));
  end loop;
  return v_out;
end
$$;
revoke all on function private.cron_field(text, integer, integer) from public, anon, authenticated;

-- The first minute after p_after (UTC) that a five-field cron expression (minute hour
-- day-of-month month day-of-week, 0 = Sunday; 7 also Sunday) names; null for an expression
-- that is not valid or names no day (such as 30 February). As cron does, when both day fields
-- are restricted a day matching either runs.
create or replace function private.cron_next(p_cron text, p_after timestamptz)
returns timestamptz
language plpgsql immutable
set search_path = pg_catalog
as $$
declare
  v_fields  text[] := regexp_split_to_array(btrim(p_cron), '\s+');
  v_minutes integer[];
  v_hours   integer[];
  v_days    integer[];
  v_months  integer[];
  v_weekdays integer[];
  v_any_day boolean;
  v_any_weekday boolean;
  v_at      timestamp;
  v_day_ok  boolean;
begin
  if cardinality(v_fields) <> 5 then
    return null;
  end if;
  v_minutes := private.cron_field(v_fields[1], 0, 59);
  v_hours := private.cron_field(v_fields[2], 0, 23);
  v_days := private.cron_field(v_fields[3], 1, 31);
  v_months := private.cron_field(v_fields[4], 1, 12);
  v_weekdays := private.cron_field(v_fields[5], 0, 7);
  if v_minutes is null or v_hours is null or v_days is null or v_months is null
     or v_weekdays is null then
    return null;
  end if;
  v_weekdays := v_weekdays || case when 7 = any (v_weekdays) then array[0] else '{}' end;
  v_any_day := v_fields[3] = '*';
  v_any_weekday := v_fields[5] = '*';
  v_at := date_trunc('minute', p_after at time zone 'UTC') + interval '1 minute';
  -- Jumps by month, day, hour and minute: a few hundred steps at most over five years.
  for i in 1..100000 loop
    if v_at > (p_after at time zone 'UTC') + interval '5 years' then
      return null;
    end if;
    if not extract(month from v_at)::integer = any (v_months) then
      v_at := date_trunc('month', v_at) + interval '1 month';
      continue;
    end if;
    v_day_ok := case
      when v_any_day and v_any_weekday then true
      when v_any_day then extract(dow from v_at)::integer = any (v_weekdays)
      when v_any_weekday then extract(day from v_at)::integer = any (v_days)
      else extract(day from v_at)::integer = any (v_days)
           or extract(dow from v_at)::integer = any (v_weekdays)
    end;
    if not v_day_ok then
      v_at := date_trunc('day', v_at) + interval '1 day';
      continue;
    end if;
    if not extract(hour from v_at)::integer = any (v_hours) then
      v_at := date_trunc('hour', v_at) + interval '1 hour';
      continue;
    end if;
    if not extract(minute from v_at)::integer = any (v_minutes) then
      v_at := v_at + interval '1 minute';
      continue;
    end if;
    return v_at at time zone 'UTC';
  end loop;
  return null;
end
$$;
revoke all on function private.cron_next(text, timestamptz) from public, anon, authenticated;

-- 20_functions/75_schedules.sql
-- Schedules through the API: each acts as the caller (auth.uid(), put in the transaction by
-- the API for a signed-in user; null for the public demo), on that caller's schedules only.

-- A new schedule: its name (unique per owner), a five-field cron expression (UTC), and the job
-- each run submits (submit_job's task_name, kind and payload, checked now as at each run).
-- Errors as submit_job's: SQLSTATE 22023 with the field in the error's column; 23505 for a
-- name already taken.
create or replace function public.create_schedule(
  name text, cron text, task_name text, kind text default null, payload jsonb default '{}'::jsonb
) returns uuid
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_kind    text := coalesce(create_schedule.kind, private.default_kind());
  v_problem text[] := private.new_job_problem(create_schedule.task_name, create_schedule.payload);
  v_next    timestamptz;
  v_id      uuid;
begin
  if create_schedule.name is null
     or create_schedule.name !~ '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$' then
    raise exception 'name must be 1 to 100 letters, digits, spaces, dots, dashes or underscores'
      using errcode = '22023', column = '/name';
  end if;
  v_next := private.cron_next(create_schedule.cron, clock_timestamp());
  if v_next is null then
    raise exception 'cron must be five fields (minute hour day month weekday, UTC) naming a time'
      using errcode = '22023', column = '/cron';
  end if;
  if v_problem is not null then
    raise exception '%', v_problem[2] using errcode = '22023', column = '/' || v_problem[1];
  end if;
  if not exists (select from public.task_kinds k where k.kind = v_kind) then
    raise exception 'kind % is not a known task kind', coalesce(quote_literal(v_kind), 'null')
      using errcode = '22023', column = '/kind';
  end if;
  insert into private.job_schedules (name, owner_id, cron, task_name, kind, payload, next_run_at)
  values (create_schedule.name, auth.uid(), btrim(create_schedule.cron),
          btrim(create_schedule.task_name), v_kind,
          coalesce(create_schedule.payload, '{}'::jsonb), v_next)
  on conflict do nothing
  returning schedule_id into v_id;
  if v_id is null then
    raise exception 'a schedule named % exists already', quote_literal(create_schedule.name)
      using errcode = '23505', column = '/name';
  end if;
  return v_id;
end
$$;
revoke all on function public.create_schedule(text, text, text, text, jsonb) from public, anon, authenticated;
grant execute on function public.create_schedule(text, text, text, text, jsonb) to service_role;

-- The caller's schedules, by name.
create or replace function public.list_schedules()
returns table (schedule_id uuid, name text, cron text, task_name text, kind text, payload jsonb,
               paused boolean, next_run_at timestamptz, last_run_at timestamptz,
               last_job_id uuid, created_at timestamptz)
language sql
stable
security definer
set search_path = pg_catalog
as $$
  select s.schedule_id, s.name, s.cron, s.task_name, s.kind, s.payload, s.paused,
         s.next_run_at, s.last_run_at, s.last_job_id, s.created_at
  from private.job_schedules s
  where s.owner_id is not distinct from auth.uid()
  order by s.name
$$;
revoke all on function public.list_schedules() from public, anon, authenticated;
grant execute on function public.list_schedules() to service_role;

-- Pauses or resumes one of the caller's schedules; resumed, its next run is the next due time
-- from now (the runs it missed while paused are not made up). False: no such schedule.
create or replace function public.pause_schedule(schedule_id uuid, paused boolean)
returns boolean
language sql
security definer
set search_path = pg_catalog
as $$
  with changed as (
    update private.job_schedules s
    set paused = pause_schedule.paused,
        next_run_at = case when s.paused and not pause_schedule.paused
                           then private.cron_next(s.cron, clock_timestamp()) else s.next_run_at end
    where s.schedule_id = pause_schedule.schedule_id
      and s.owner_id is not distinct from auth.uid()
    returning 1
  )
  select exists (select from changed)
$$;
revoke all on function public.pause_schedule(uuid, boolean) from public, anon, authenticated;
grant execute on function public.pause_schedule(uuid, boolean) to service_role;

-- Deletes one of the caller's schedules (its jobs stay). False: no such schedule.
create or replace function public.delete_schedule(schedule_id uuid) returns boolean
language sql
security definer
set search_path = pg_catalog
as $$
  with gone as (
    delete from private.job_schedules s
    where s.schedule_id = delete_schedule.schedule_id
      and s.owner_id is not distinct from auth.uid()
    returning 1
  )
  select exists (select from gone)
$$;
revoke all on function public.delete_schedule(uuid) from public, anon, authenticated;
grant execute on function public.delete_schedule(uuid) to service_role;

-- The sweep's part: every schedule that is due submits one ordinary job as its owner, and its
-- next run is the next due time after now, so runs missed while nothing swept (the database
-- down) run once, not once per missed slot. A run whose job is refused (its kind retired, its
-- payload no longer valid) is skipped; the schedule stays. Schedules another sweep is running
-- are skipped (SKIP LOCKED). Returns the jobs submitted.
create or replace function private.run_schedules() returns integer
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_due    record;
  v_job_id uuid;
  v_count  integer := 0;
begin
  for v_due in
    select s.* from private.job_schedules s
    where not s.paused and s.next_run_at <= clock_timestamp()
    order by s.next_run_at
    for update skip locked
  loop
    perform set_config('request.jwt.claim.sub', coalesce(v_due.owner_id::text, ''), true);
    begin
      v_job_id := public.submit_job(v_due.task_name, v_due.payload, null, null, null, v_due.kind);
      update public.job_results j set schedule_id = v_due.schedule_id where j.job_id = v_job_id;
      v_count := v_count + 1;
    exception when sqlstate '22023' or foreign_key_violation then
      v_job_id := null;
    end;
    perform set_config('request.jwt.claim.sub', '', true);
    update private.job_schedules s
    set last_run_at = clock_timestamp(), last_job_id = coalesce(v_job_id, s.last_job_id),
        next_run_at = coalesce(private.cron_next(s.cron, clock_timestamp()), 'infinity')
    where s.schedule_id = v_due.schedule_id;
  end loop;
  return v_count;
end
$$;
revoke all on function private.run_schedules() from public, anon, authenticated;

-- 30_triggers/50_flow_release.sql
-- A flow-controlled job that ends (completed, failed or cancelled, from whatever state) gives
-- back its slot or its place in line, and the kind's next jobs are admitted in the same
-- transaction. Jobs without flow control never fire it (the WHEN clause), so their path pays
-- nothing. The kind's lock (private.flow_lock) comes after the message and job locks the
-- ending writer holds; flow_admit only ever skips locked jobs, and a writer ending jobs of
-- several kinds takes their locks in one order, so none wait on each other in a cycle.
create or replace function private.flow_release() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  perform private.flow_lock(new.kind);
  delete from private.flow_slots s where s.job_id = new.job_id;
  with gone as (
    delete from private.flow_waiting w where w.job_id = new.job_id returning w.kind, w.fair_key
  )
  update private.flow_owners o set waiting = o.waiting - 1
  from gone where o.kind = gone.kind and o.fair_key = gone.fair_key;
  perform private.flow_admit(new.kind);
  return null;
end
$$;
revoke all on function private.flow_release() from public, anon, authenticated;

drop trigger if exists flow_release on public.job_results;
create trigger flow_release after update of status on public.job_results
  for each row
  when (new.flow_controlled and new.status in ('completed', 'failed', 'cancelled')
        and old.status not in ('completed', 'failed', 'cancelled'))
  execute function private.flow_release();

-- The wake-up decision of messages flow_admit sent, at commit (a deferred trigger on the slots
-- it wrote), once per transaction: by then the transaction has taken every kind's lock it
-- needs, so the wake-up protocol's locks still come last. The decision is the queue trigger's
-- (private.call_job_webhook), which flow_admit kept from deciding mid-transaction.
create or replace function private.flow_wake() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  if current_setting('supajobs.flow_wake', true) is distinct from 'pending' then
    return null;
  end if;
  perform set_config('supajobs.flow_wake', 'done', true);
  perform pg_advisory_xact_lock_shared(private.wake_lock_key());
  if current_setting('transaction_isolation') <> 'read committed' then
    perform private.send_wakeup('enqueued (' || current_setting('transaction_isolation') || ')');
  elsif not exists (select from private.queue_leases where expires_at > clock_timestamp()) then
    perform private.wake_workers(1, 'enqueued');
  end if;
  return null;
end
$$;
revoke all on function private.flow_wake() from public, anon, authenticated;

drop trigger if exists flow_wake on private.flow_slots;
create constraint trigger flow_wake after insert on private.flow_slots
  deferrable initially deferred
  for each row execute function private.flow_wake();

