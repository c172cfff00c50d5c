-- The baseline: the whole database as supabase/schema/ built it on 2026-12-07, when the 14
-- migrations written before the first release were squashed into this one (see CHANGELOG.md).
-- Like every migration on main it is never edited: a new behaviour is a new migration, and its
-- source is the schema folder (docs/database.md says how).

-- ===== 01_extensions.sql =====
-- Extensions the job system stands on: pgmq (the queue), pg_net (the wake-up call) and pgcrypto
-- (the wake-up's signature), with the Supabase API roles.
-- Hosted Supabase ships all three as extensions that the migrating role (`postgres`, not a
-- superuser there) may create: supautils creates them as supabase_admin on its behalf and then
-- hands pgmq's members to postgres (supabase/postgres, pgmq/after-create.sql), but not its schema.
-- A plain Postgres has none of them: there the migration runner (python -m devstack.migrate)
-- first installs PGMQ from the `pgmq` package's SQL, a `net` schema with pg_net's interface and
-- extensions.hmac, and this file only checks for them.
do $$
declare
  v_owner text;
  v_schema text;
begin
  if to_regnamespace('pgmq') is null
     and exists (select 1 from pg_available_extensions where name = 'pgmq') then
    -- pgmq.create makes tables in schema pgmq, so the migrating role must own that schema.
    -- CREATE EXTENSION would create it as supabase_admin (pgmq's control file names the schema),
    -- leaving postgres without even USAGE on it; created here first, it is postgres's, as when
    -- the dashboard enables Queues.
    create schema pgmq;
    begin
      create extension pgmq with schema pgmq;
    exception when ambiguous_function then
      -- supabase/postgres#1867: some PG 17 images' pgmq after-create script fails this way.
      raise exception 'creating the pgmq extension failed in the platform''s after-create script: %', sqlerrm
        using hint = 'a known fault of some Supabase Postgres 17 images (supabase/postgres#1867): '
                     'enable Queues in the dashboard (Integrations > Queues), then apply the migrations again';
    end;
  end if;
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null
     and exists (select 1 from pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net;
  end if;

  if to_regnamespace('pgmq') is null then
    raise exception 'the pgmq schema is missing: enable the pgmq extension, or run the migration runner (python -m devstack.migrate), which installs it from SQL';
  end if;
  if not has_schema_privilege('pgmq', 'CREATE') then
    select nspowner::regrole::text into v_owner from pg_namespace where nspname = 'pgmq';
    raise exception 'role % may not create tables in schema pgmq (owned by %), so the work queue cannot be made', current_user, v_owner
      using hint = 'pgmq was enabled before its schema existed, so the platform''s superuser owns the schema and no project role can use it; '
                   'only the schema''s owner can fix that (alter schema pgmq owner to postgres). See docs: "Deploying".';
  end if;
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    raise exception 'net.http_post is missing: enable the pg_net extension, or run the migration runner (python -m devstack.migrate), which installs a compatible net schema';
  end if;
  if (select count(*) from pg_roles where rolname in ('anon', 'authenticated', 'service_role')) < 3 then
    raise exception 'the Supabase roles anon, authenticated and service_role are missing: run the migration runner, which creates them on a plain Postgres';
  end if;

  -- HMAC comes from pgcrypto, which hosted Supabase installs in schema `extensions`.
  if to_regprocedure('extensions.hmac(bytea, bytea, text)') is null then
    select n.nspname into v_schema
    from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pgcrypto';
    if v_schema is not null then
      raise exception 'pgcrypto is installed in schema %, but the wake-up signs with extensions.hmac: move it with "alter extension pgcrypto set schema extensions"', v_schema;
    end if;
    if not exists (select 1 from pg_available_extensions where name = 'pgcrypto') then
      raise exception 'extensions.hmac is missing and pgcrypto is not available: enable pgcrypto in schema extensions, or run the migration runner (python -m devstack.migrate), which provides it';
    end if;
    if to_regnamespace('extensions') is null then
      create schema extensions;
    end if;
    create extension pgcrypto with schema extensions;
  end if;
end
$$;

-- ===== 02_work_queue.sql =====
-- The queue: one PGMQ queue, work_queue. A message is {"job_id": ...}; the job's row in
-- public.job_results says everything else.
select pgmq.create('work_queue')
where not exists (select 1 from pgmq.list_queues() where queue_name = 'work_queue');

-- The queue is the service role's business only: nothing in it is for the page. Only the schema's
-- owner can revoke, so this runs where the migrating role owns it (elsewhere REVOKE only warns).
do $$
begin
  if pg_has_role((select nspowner from pg_namespace where nspname = 'pgmq'), 'USAGE') then
    revoke all on schema pgmq from public, anon, authenticated;
  end if;
end
$$;

-- ===== 03_private.sql =====
-- The private schema: tables and functions only the functions' role (through security-definer
-- functions) and the database itself use; no API role may even look in.
create schema if not exists private;
revoke all on schema private from public, anon, authenticated;

-- Settings of the wake-up call where there is no Vault (see private.webhook_target):
-- job_webhook_url and job_webhook_secret.
create table if not exists private.settings (
  name  text primary key,
  value text not null
);
revoke all on private.settings from public, anon, authenticated;

-- ===== 10_tables/10_task_kinds.sql =====
-- The kinds of task workers can run, with the payload each takes (a JSON Schema subset, see
-- functions/core/schemas.py) and its time limit. Each worker publishes its registry here at cold
-- start (private.publish_kinds); the submit function reads it to refuse an unknown kind or a
-- payload that does not match before anything is stored, without importing any task's code.
create table if not exists public.task_kinds (
  kind            text primary key
                  constraint task_kinds_kind_check check (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
  description     text not null default '',
  payload_schema  jsonb not null default '{"type": "object"}'::jsonb
                  constraint task_kinds_schema_check check (jsonb_typeof(payload_schema) = 'object'),
  time_limit_s    double precision not null constraint task_kinds_limit_check check (time_limit_s > 0),
  -- The kind a job gets when its submitter names none: the registry's, one row at most.
  is_default      boolean not null default false,
  published_at    timestamptz not null default now()
);
create unique index if not exists task_kinds_one_default on public.task_kinds (is_default) where is_default;

-- The kind a job gets when its submitter names none (task_kinds.is_default).
create or replace function private.default_kind() returns text
language sql stable
set search_path = pg_catalog
as $$ select k.kind from public.task_kinds k where k.is_default $$;
revoke all on function private.default_kind() from public, anon, authenticated;

-- Only the functions read and write it: the page learns the kinds from GET /kinds.
alter table public.task_kinds enable row level security;
revoke all on public.task_kinds from public, anon, authenticated;
grant all on public.task_kinds to service_role;

-- The built-in kinds, as functions/core/tasks.py declares them with the default settings
-- (tests hold the two equal). Seeded so that submit accepts them before the first worker has
-- published: on Lambda a worker's cold start follows a job, so an empty table would refuse
-- every job and no worker would ever start to fill it.
insert into public.task_kinds (kind, description, payload_schema, time_limit_s, is_default) values
  ('echo', 'Completes with its payload as the result: any JSON object.', '{"type": "object"}'::jsonb, 5.0, false),
  ('fail', 'Always raises: shows the retry path and how a failed job looks.', '{"properties": {"message": {"description": "The error it fails with", "maxLength": 1000, "title": "Error message", "type": "string"}}, "type": "object"}'::jsonb, 5.0, false),
  ('noop', 'Does nothing and completes at once; any payload.', '{"type": "object"}'::jsonb, 5.0, false),
  ('simulate', 'Works for a while (seconds, or 5-10 s at random), then says how long it took.', '{"properties": {"seconds": {"description": "How long to work; 5-10 s at random when left out (capped at the worker''s TASK_MAX_SECONDS)", "minimum": 0, "title": "Seconds", "type": "number"}}, "type": "object"}'::jsonb, 11.0, true)
on conflict (kind) do nothing;

-- ===== 10_tables/20_job_results.sql =====
-- One row a job: what was asked, where it stands, and how it ended.
--
--   scheduled ─(due, claimed)─▶ running ─▶ completed | failed | cancelled
--   pending   ─(claimed)──────▶ running ─(retry after an error)─▶ pending
--   pending | scheduled ─(cancel_job)─▶ cancelled
--   running ─(cancel_job: cancel_requested_at)─▶ cancelled (by the worker, or on its way back
--                                                to pending)
--   failed | cancelled ─(retry_job)─▶ pending (run + 1, attempts from 0)
--
-- Every transition is one function in this folder and a conditional write; see
-- 20_functions/ and, for the order in which writers take their locks, the lock order in
-- docs/architecture.md.
create table if not exists public.job_results (
  job_id              uuid primary key default gen_random_uuid(),
  -- A free label people give the job (shown on the page); the work is the kind's.
  task_name           text not null,
  -- What the job runs; the registry's default kind when its submitter names none.
  kind                text not null default private.default_kind()
                      references public.task_kinds (kind),
  payload             jsonb not null default '{}'::jsonb,
  status              text not null default 'pending'
                      constraint job_results_status_check
                      check (status in ('pending', 'scheduled', 'running', 'completed', 'failed', 'cancelled')),
  result              text,
  error               text,
  attempts            integer not null default 0,
  -- The job's current message: a message whose msg_id is not this one starts nothing.
  msg_id              bigint,
  idempotency_key     text,
  created_at          timestamptz not null default now(),
  started_at          timestamptz,
  finished_at         timestamptz,
  updated_at          timestamptz not null default now(),
  -- A job submitted with a user's access token belongs to that user: the submit function puts
  -- the verified claims in request.jwt.claims for its transaction, and auth.uid() reads them.
  -- Jobs without an owner are the public demo mode's.
  owner_id            uuid default auth.uid(),
  progress            double precision,
  progress_total      double precision,
  progress_message    text,
  run_at              timestamptz,
  cancel_requested_at timestamptz,
  run                 integer not null default 1,
  -- The lease holder running the current attempt: when its lease lapses (the worker died),
  -- private.sweep makes the attempt's message visible again at once.
  claimed_by          text
);

create index if not exists job_results_newest_first on public.job_results (created_at desc, job_id);
create index if not exists job_results_by_status on public.job_results (status, created_at desc, job_id);
create index if not exists job_results_owner_newest on public.job_results (owner_id, created_at desc, job_id);

-- Realtime sends whole rows for updates and deletes.
alter table public.job_results replica identity full;
alter table public.job_results enable row level security;

-- ===== 10_tables/30_job_events.sql =====
-- One row a transition or attempt of a job, written only by the trigger
-- private.record_job_event.
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

-- ===== 10_tables/40_idempotency_keys.sql =====
-- Idempotency keys remember the request they first came with (a SHA-256 fingerprint) for 24
-- hours, as the IETF Idempotency-Key draft describes: the same key with the same request
-- answers with the first job(s); with a different request, SQLSTATE SJ422 (HTTP 422); while the
-- first request with the key is still in its transaction, SJ409 (HTTP 409).
create table if not exists private.idempotency_keys (
  key         text primary key,
  -- sha256 of the canonical request (jsonb text); a single job's and a batch's never agree.
  fingerprint bytea not null,
  job_id      uuid not null references public.job_results (job_id) on delete cascade,
  -- The ids a batch key answers with; null for a single job's key (its job_id alone).
  job_ids     uuid[],
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null default now() + interval '24 hours'
);
create index if not exists idempotency_keys_expiry on private.idempotency_keys (expires_at);
revoke all on private.idempotency_keys from public, anon, authenticated;

-- ===== 10_tables/50_queue_leases.sql =====
-- Who holds the queue: a row per draining worker (renewed by its heartbeat) and the 'wake-up'
-- window of a call on its way. While any row is live, enqueuing sends no wake-up; see
-- private.call_job_webhook and private.leave_work_queue.
create table if not exists private.queue_leases (
  holder     text primary key,
  expires_at timestamptz not null
);
revoke all on private.queue_leases from public, anon, authenticated;

-- ===== 10_tables/60_wake_ups.sql =====
-- Every wake-up sent in the last few minutes, so that each is honoured once: a replayed signed
-- call (the same webhook-id, inside the receiver's 5-minute window) finds its wake-up taken and
-- starts nothing. private.sweep forgets them after 10 minutes.
create table if not exists private.wake_ups (
  wake_id  text primary key,
  reason   text not null,
  sent_at  timestamptz not null default clock_timestamp(),
  taken_at timestamptz
);
create index if not exists wake_ups_by_age on private.wake_ups (sent_at);
revoke all on private.wake_ups from public, anon, authenticated;

-- ===== 20_functions/10_webhook_target.sql =====
-- Where the wake-up goes and what signs it, in one call: Vault's secrets job_webhook_url and
-- job_webhook_secret on hosted Supabase, private.settings elsewhere.
create or replace function private.webhook_target(out url text, out secret text)
language plpgsql
stable
security definer
set search_path = pg_catalog
as $$
begin
  if to_regclass('vault.decrypted_secrets') is not null then
    execute 'select max(decrypted_secret) filter (where name = ''job_webhook_url''),
                    max(decrypted_secret) filter (where name = ''job_webhook_secret'')
             from vault.decrypted_secrets
             where name in (''job_webhook_url'', ''job_webhook_secret'')'
      into url, secret;
  end if;
  if url is null or secret is null then
    select coalesce(url, max(s.value) filter (where s.name = 'job_webhook_url')),
           coalesce(secret, max(s.value) filter (where s.name = 'job_webhook_secret'))
      into url, secret
    from private.settings s
    where s.name in ('job_webhook_url', 'job_webhook_secret');
  end if;
end
$$;
revoke all on function private.webhook_target() from public, anon, authenticated;

-- ===== 20_functions/11_webhook_signature.sql =====
-- The `webhook-signature` header of one call (Standard Webhooks): a `v1,<base64>` entry per
-- `whsec_` secret in `secrets` (several, space-separated, during a rotation).
-- pg_net keeps queued requests in tables every API role can read, so a queued call must be
-- useless beyond itself: a signature of its exact body, valid within the receiver's window.
create or replace function private.webhook_signature(
  msg_id text, ts bigint, body text, secrets text
) returns text
language plpgsql
stable
strict
set search_path = pg_catalog
as $$
declare
  v_secret text;
  v_encoded text;
  v_key bytea;
  v_signed bytea := convert_to(msg_id || '.' || ts || '.' || body, 'UTF8');
  v_signatures text[] := '{}';
begin
  foreach v_secret in array regexp_split_to_array(btrim(secrets, E' \t\r\n,'), '[[:space:],]+') loop
    if left(v_secret, 6) <> 'whsec_' then
      raise exception 'a webhook secret starts with whsec_' using errcode = '22023';
    end if;
    v_encoded := substr(v_secret, 7);
    -- Unpadded base64 is accepted, as the reference libraries do.
    v_key := decode(v_encoded || repeat('=', (4 - length(v_encoded) % 4) % 4), 'base64');
    if octet_length(v_key) not between 24 and 64 then
      raise exception 'a webhook secret''s key is 24 to 64 bytes, not %', octet_length(v_key)
        using errcode = '22023';
    end if;
    v_signatures := v_signatures
      || ('v1,' || encode(extensions.hmac(v_signed, v_key, 'sha256'), 'base64'));
  end loop;
  return array_to_string(v_signatures, ' ');
end
$$;
revoke all on function private.webhook_signature(text, bigint, text, text) from public, anon, authenticated;

-- ===== 20_functions/12_lock_keys.sql =====
-- The two advisory locks of the wake-up protocol (transaction-scoped, so they work through a
-- transaction pooler). WAKE_LOCK: every enqueuer holds it shared while it reads the leases; a
-- leaving worker takes it exclusively. SEND_LOCK: whoever decides to send wake-ups takes it
-- exclusively, so two deciders never both count the same free slot. Order: WAKE_LOCK, then
-- SEND_LOCK, never the other way.
create or replace function private.wake_lock_key() returns bigint
language sql immutable parallel safe
as $$ select 7305241100000000011::bigint $$;
revoke all on function private.wake_lock_key() from public, anon, authenticated;

create or replace function private.send_lock_key() returns bigint
language sql immutable parallel safe
as $$ select 7305241100000000012::bigint $$;
revoke all on function private.send_lock_key() from public, anon, authenticated;

-- ===== 20_functions/13_max_workers.sql =====
-- The ceiling of concurrently draining workers (private.settings 'max_workers', 5 when unset:
-- process_job's reserved concurrency in serverless.yml). Wake-ups are sent only while fewer
-- workers than this hold the queue.
create or replace function private.max_workers() returns integer
language sql stable
security definer
set search_path = pg_catalog
as $$
  select coalesce((select greatest(1, s.value::integer) from private.settings s
                   where s.name = 'max_workers'), 5)
$$;
revoke all on function private.max_workers() from public, anon, authenticated;

-- ===== 20_functions/20_send_wakeup.sql =====
-- One signed call of the webhook: a new wake-up with its own id, which the woken worker takes
-- as its lease (private.take_wake_up) and which is honoured once. The id's lease row counts as
-- a worker for p_window, so callers that count workers count this one until it arrives.
-- Returns whether a call was queued. Callers hold SEND_LOCK (private.wake_workers).
create or replace function private.send_wakeup(
  p_reason text, p_window interval default interval '10 seconds'
) returns boolean
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_target record := private.webhook_target();
  v_id text;
  v_body jsonb;
  v_ts bigint;
begin
  if v_target.url is null or v_target.url = '' then
    return false;  -- no webhook configured: the sweep wakes nobody either
  end if;
  begin
    -- Unique, and free of dots as the Standard Webhooks specification asks of an id.
    v_id := 'wake_' || replace(gen_random_uuid()::text, '-', '');
    insert into private.queue_leases (holder, expires_at) values (v_id, clock_timestamp() + p_window);
    insert into private.wake_ups (wake_id, reason) values (v_id, p_reason);
    v_body := jsonb_build_object('wake_id', v_id);
    v_ts := floor(extract(epoch from clock_timestamp()))::bigint;
    perform net.http_post(
      url := v_target.url,
      body := v_body,
      params := '{}'::jsonb,
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'webhook-id', v_id,
        'webhook-timestamp', v_ts::text,
        -- pg_net sends convert_to(body::text, 'UTF8'): the signature covers that same text.
        'webhook-signature', private.webhook_signature(
          v_id, v_ts, v_body::text, coalesce(v_target.secret, ''))),
      timeout_milliseconds := 5000);
  exception when others then
    -- A failed wake-up (no secret, a malformed one) never undoes the submission, never goes
    -- out unsigned, and takes no slot (this block's inserts are undone with it).
    raise warning 'job wake-up not queued (%): %', p_reason, sqlerrm;
    return false;
  end;
  return true;
end
$$;
revoke all on function private.send_wakeup(text, interval) from public, anon, authenticated;

-- ===== 20_functions/21_wake_workers.sql =====
-- Makes sure at least min(p_wanted, max_workers) workers hold the queue or are on their way,
-- sending a wake-up for each one missing. Under SEND_LOCK, so concurrent deciders never send
-- more than the ceiling between them. Returns how many wake-ups it sent.
create or replace function private.wake_workers(p_wanted integer, p_reason text)
returns integer
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_live integer;
  v_sent integer := 0;
begin
  perform pg_advisory_xact_lock(private.send_lock_key());
  select count(*) into v_live from private.queue_leases where expires_at > clock_timestamp();
  for i in 1 .. least(p_wanted, private.max_workers()) - v_live loop
    exit when not private.send_wakeup(p_reason);
    v_sent := v_sent + 1;
  end loop;
  return v_sent;
end
$$;
revoke all on function private.wake_workers(integer, text) from public, anon, authenticated;

-- ===== 20_functions/22_workers_wanted.sql =====
-- How many workers the visible backlog wants: one per p_batch_size visible first deliveries,
-- and one per visible redelivery (each runs alone), counted only as far as the ceiling could
-- use (so a deep queue costs no more to look at).
create or replace function private.workers_wanted(p_batch_size integer) returns integer
language sql stable
security definer
set search_path = pg_catalog
as $$
  select ((count(*) filter (where visible.read_ct = 0) + greatest(p_batch_size, 1) - 1)
          / greatest(p_batch_size, 1))::integer
         + (count(*) filter (where visible.read_ct > 0))::integer
  from (select q.read_ct from pgmq.q_work_queue q
        where q.vt <= clock_timestamp()
        limit private.max_workers() * greatest(p_batch_size, 1)) visible
$$;
revoke all on function private.workers_wanted(integer) from public, anon, authenticated;

-- ===== 20_functions/30_hold_work_queue.sql =====
-- A worker takes or renews its lease; while any lease is live, enqueuing sends no wake-up.
-- A lease lapses p_lease_s after its last renewal: that is how a dead worker is noticed.
create or replace function private.hold_work_queue(p_holder text, p_lease_s double precision)
returns void
language sql
security definer
set search_path = pg_catalog
as $$
  insert into private.queue_leases (holder, expires_at)
  values (p_holder, clock_timestamp() + make_interval(secs => p_lease_s))
  on conflict (holder) do update set expires_at = excluded.expires_at
$$;
revoke all on function private.hold_work_queue(text, double precision) from public, anon, authenticated;

-- ===== 20_functions/31_take_wake_up.sql =====
-- A woken worker takes its wake-up: the first taker gets it as its lease and drains (true); a
-- replay of the same signed call, or a wake-up the sweep has forgotten, gets false and starts
-- nothing.
create or replace function private.take_wake_up(p_wake_id text, p_lease_s double precision)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  update private.wake_ups set taken_at = clock_timestamp()
  where wake_id = p_wake_id and taken_at is null;
  if not found then
    return false;
  end if;
  perform private.hold_work_queue(p_wake_id, p_lease_s);
  return true;
end
$$;
revoke all on function private.take_wake_up(text, double precision) from public, anon, authenticated;

-- ===== 20_functions/32_leave_work_queue.sql =====
-- A worker that found nothing to do, or that gives up, leaves. Under WAKE_LOCK taken
-- exclusively (so every enqueuer that saw a lease has committed or rolled back, and none reads
-- the leases until this commits) it drops its lease, makes the messages of any attempt it
-- still holds visible at once (a worker that gives up mid-batch records no outcome for them;
-- waiting out their visibility would stall them), then looks at the queue once more. Visible work: with p_stay
-- the caller keeps its lease and returns true (it drains on); without, the database makes
-- sure a worker is on its way (returns false). Nothing visible: false.
create or replace function private.leave_work_queue(
  p_holder text, p_lease_s double precision, p_stay boolean
) returns boolean
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  perform pg_advisory_xact_lock(private.wake_lock_key());
  delete from private.queue_leases where holder = p_holder;
  update pgmq.q_work_queue q set vt = clock_timestamp()
  where q.vt > clock_timestamp()
    and q.msg_id in (select j.msg_id from public.job_results j
                     where j.status = 'running' and j.claimed_by = p_holder);
  if not exists (select from pgmq.q_work_queue q where q.vt <= clock_timestamp()) then
    return false;
  end if;
  if p_stay then
    perform private.hold_work_queue(p_holder, p_lease_s);
    return true;
  end if;
  perform private.wake_workers(1, 'left with work visible');
  return false;
end
$$;
revoke all on function private.leave_work_queue(text, double precision, boolean) from public, anon, authenticated;

-- ===== 20_functions/40_claim_jobs.sql =====
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
begin
  loop
    -- pgmq.read's statement, written out: pgmq.read builds it with format() and plans it on
    -- every call, where this one's plan is cached. Only the columns every PGMQ version has are
    -- touched (last_read_at is left as it is).
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
      returning m.msg_id, m.read_ct, (m.message ->> 'job_id')::uuid as job_id
    )
    select coalesce(array_agg(r.msg_id order by r.msg_id), '{}'),
           array_agg(r.read_ct order by r.msg_id), array_agg(r.job_id order by r.msg_id)
      into v_msg_ids, v_read_cts, v_job_ids
    from taken r;
    exit when cardinality(v_msg_ids) > 0 or clock_timestamp() >= v_until;
    perform pg_sleep(greatest(p_poll_ms, 1) / 1000.0);
  end loop;
  if cardinality(v_msg_ids) = 0 then
    return;
  end if;
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

-- ===== 20_functions/41_start_attempt.sql =====
-- Starts a redelivered message's job for a new attempt held by p_holder (the claim returns
-- redeliveries unstarted, and the worker runs them one at a time). A message that may no longer
-- start its job (not the job's current message, or the job has finished) is archived and no
-- row comes back.
create or replace function private.start_attempt(p_holder text, p_msg_id bigint, p_job_id uuid)
returns table (kind text, task_name text, payload jsonb, attempt integer)
language plpgsql
as $$
#variable_conflict use_column
begin
  perform 1 from pgmq.q_work_queue q where q.msg_id = p_msg_id for update;
  return query
  update public.job_results j
  set status = 'running', attempts = j.attempts + 1, started_at = clock_timestamp(),
      error = null, claimed_by = p_holder
  where j.job_id = p_job_id and j.msg_id = p_msg_id
    and j.status in ('pending', 'scheduled', 'running')
  returning j.kind, j.task_name, j.payload, j.attempts;
  if not found then
    perform pgmq.archive('work_queue', p_msg_id);
  end if;
end
$$;
revoke all on function private.start_attempt(text, bigint, uuid) from public, anon, authenticated;

-- ===== 20_functions/42_finish_attempts.sql =====
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
begin
  perform 1 from pgmq.q_work_queue q where q.msg_id = any (p_msg_ids) order by q.msg_id for update;
  perform 1 from public.job_results j where j.job_id = any (p_job_ids) order by j.job_id for update;
  return query
  with outcome as (
    select * from unnest(p_job_ids, p_attempts, p_statuses, p_results, p_errors, p_msg_ids)
      as o(job_id, attempt, status, result, error, msg_id)
  ), recorded as (
    update public.job_results j
    set status = o.status, result = o.result, error = o.error, finished_at = now()
    from outcome o
    where j.job_id = o.job_id and j.status = 'running' and j.attempts = o.attempt
    returning o.msg_id
  ), archived as (
    delete from pgmq.q_work_queue q using recorded r where q.msg_id = r.msg_id
    returning q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message
  )
  insert into pgmq.a_work_queue (msg_id, read_ct, enqueued_at, vt, message)
  select a.msg_id, a.read_ct, a.enqueued_at, a.vt, a.message from archived a
  returning msg_id;
end
$$;
revoke all on function private.finish_attempts(uuid[], integer[], text[], text[], text[], bigint[])
  from public, anon, authenticated;

-- ===== 20_functions/43_retry_attempt.sql =====
-- A failed attempt to be tried again later: the job goes back to pending with the error and its
-- message becomes visible after p_delay_s (fractional: not pgmq.set_vt, whose whole seconds
-- would round a jittered backoff back into lockstep). Only while the attempt still owns the
-- job; returns whether it did.
create or replace function private.retry_attempt(
  p_job_id uuid, p_attempt integer, p_msg_id bigint, p_error text, p_delay_s double precision
) returns boolean
language plpgsql
as $$
begin
  perform 1 from pgmq.q_work_queue q where q.msg_id = p_msg_id for update;
  update public.job_results
  set status = 'pending', error = p_error
  where job_id = p_job_id and status = 'running' and attempts = p_attempt;
  if not found then
    return false;
  end if;
  update pgmq.q_work_queue
  set vt = clock_timestamp() + make_interval(secs => greatest(p_delay_s, 0))
  where msg_id = p_msg_id;
  return true;
end
$$;
revoke all on function private.retry_attempt(uuid, integer, bigint, text, double precision)
  from public, anon, authenticated;

-- ===== 20_functions/44_hand_back.sql =====
-- Messages returned unrun (or cut short by the invocation's deadline), as if this delivery had
-- not happened: a started job goes back to pending with the attempt uncounted, and the read
-- count drops so the next delivery is not mistaken for a redelivery (one that may have crashed
-- a worker, and is run alone). Only what the caller still owns changes: the job at the claim's
-- attempt (null: never started), the message at the read count it was claimed with.
-- Returns the msg_ids handed back.
create or replace function private.hand_back(
  p_msg_ids bigint[], p_read_counts integer[], p_job_ids uuid[], p_attempts integer[]
) returns setof bigint
language plpgsql
as $$
begin
  perform 1 from pgmq.q_work_queue q where q.msg_id = any (p_msg_ids) order by q.msg_id for update;
  perform 1 from public.job_results j where j.job_id = any (p_job_ids) order by j.job_id for update;
  return query
  with handed as (
    select * from unnest(p_msg_ids, p_read_counts, p_job_ids, p_attempts)
      as h(msg_id, read_ct, job_id, attempt)
  ), released as (
    update public.job_results j
    set status = 'pending', attempts = j.attempts - 1
    from handed h
    where h.attempt is not null and j.job_id = h.job_id
      and j.status = 'running' and j.attempts = h.attempt
      and exists (
        select from pgmq.q_work_queue q where q.msg_id = h.msg_id and q.read_ct = h.read_ct
      )
    returning h.msg_id
  )
  update pgmq.q_work_queue q
  set vt = clock_timestamp(), read_ct = q.read_ct - 1
  from handed h
  where q.msg_id = h.msg_id and q.read_ct = h.read_ct
    and (h.attempt is null or h.msg_id in (select r.msg_id from released r))
  returning q.msg_id;
end
$$;
revoke all on function private.hand_back(bigint[], integer[], uuid[], integer[])
  from public, anon, authenticated;

-- ===== 20_functions/45_extend_visibility.sql =====
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

-- ===== 20_functions/46_report_progress.sql =====
-- The latest progress of running attempts, written by the heartbeat while each attempt still
-- owns its job. Best effort by design: a job row locked by another writer (its outcome, a
-- cancel) is skipped rather than waited for, so progress can never deadlock with the terminal
-- write; the next beat writes the latest value again.
create or replace function private.report_progress(
  p_job_ids uuid[], p_attempts integer[], p_dones double precision[],
  p_totals double precision[], p_messages text[]
) returns void
language sql
as $$
  update public.job_results j
  set progress = p.done, progress_total = p.total, progress_message = p.message
  from unnest(p_job_ids, p_attempts, p_dones, p_totals, p_messages)
       as p(job_id, attempt, done, total, message)
  where j.job_id = p.job_id and j.status = 'running' and j.attempts = p.attempt
    and j.job_id in (select l.job_id from public.job_results l where l.job_id = any (p_job_ids)
                     order by l.job_id for update skip locked)
$$;
revoke all on function private.report_progress(uuid[], integer[], double precision[], double precision[], text[])
  from public, anon, authenticated;

-- ===== 20_functions/47_cancel_requested.sql =====
-- Which of these in-flight jobs a person asked to cancel (the heartbeat's look).
create or replace function private.cancel_requested(p_job_ids uuid[]) returns setof uuid
language sql stable
as $$
  select j.job_id from public.job_results j
  where j.job_id = any (p_job_ids) and j.cancel_requested_at is not null
$$;
revoke all on function private.cancel_requested(uuid[]) from public, anon, authenticated;

-- ===== 20_functions/50_sweep.sql =====
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
  if exists (select from pgmq.q_work_queue q where q.vt <= clock_timestamp()) then
    v_woken := private.wake_workers(private.workers_wanted(p_batch_size), 'sweep');
  end if;
  return jsonb_build_object('dead_leases', cardinality(v_dead), 'released', v_released,
                            'woken', v_woken);
end
$$;
revoke all on function private.sweep(integer) from public, anon, authenticated;

-- ===== 20_functions/51_sweep_for.sql =====
-- The sweep every p_every_s seconds for p_seconds, each in a transaction of its own: for a
-- pg_cron older than 1.5, whose schedules are whole minutes (see 70_sweep_schedule.sql).
create or replace procedure private.sweep_for(p_seconds double precision, p_every_s double precision default 2)
-- Neither security definer nor a SET clause: a procedure with either may not commit.
language plpgsql
as $$
declare
  v_until timestamptz := clock_timestamp() + make_interval(secs => p_seconds);
begin
  loop
    perform private.sweep();
    commit;
    exit when clock_timestamp() + make_interval(secs => p_every_s) >= v_until;
    perform pg_sleep(p_every_s);
  end loop;
end
$$;
revoke all on procedure private.sweep_for(double precision, double precision) from public, anon, authenticated;

-- ===== 20_functions/59_archive_unlocked.sql =====
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

-- ===== 20_functions/60_new_job_problem.sql =====
-- What is wrong with one new job, as {field, message} (field a JSON pointer below the job), or
-- null. One expression, so submit_jobs checks a whole batch in one set-based statement and
-- submit_job the same way for one; CASE tries each check only when the ones before hold.
-- The kind is checked against public.task_kinds by the callers (and by the foreign key).
create or replace function private.new_job_problem(p_task_name text, p_payload jsonb)
returns text[]
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select case
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
  end
$$;
revoke all on function private.new_job_problem(text, jsonb) from public, anon, authenticated;

-- ===== 20_functions/62_idempotency.sql =====
-- The Idempotency-Key rule shared by submit_job and submit_jobs. Holds the key's advisory lock
-- to the end of the transaction (a second request with the key meanwhile is told so at once,
-- SJ409, rather than waiting); then either the jobs a first request with the same fingerprint
-- created (a replay), SJ422 for a different request, or null (a new key: its expired
-- predecessor and up to 20 other expired keys are removed, so the table holds about a day).
create or replace function private.claim_idempotency_key(p_key text, p_fingerprint bytea)
returns uuid[]
language plpgsql
set search_path = pg_catalog
as $$
declare
  v_seen bytea;
  v_ids uuid[];
begin
  if char_length(p_key) not between 1 and 200 or p_key ~ '[[:cntrl:]]' then
    raise exception 'idempotency key must be 1 to 200 printable characters'
      using errcode = '22023';
  end if;
  if not pg_try_advisory_xact_lock(hashtext('supajobs.idempotency_key'), hashtext(p_key)) then
    raise exception 'a request with this Idempotency-Key is still being processed; retry shortly'
      using errcode = 'SJ409';
  end if;
  select k.fingerprint, coalesce(k.job_ids, array[k.job_id]) into v_seen, v_ids
  from private.idempotency_keys k
  where k.key = p_key and k.expires_at > now();
  if found then
    if v_seen = p_fingerprint then
      return v_ids;
    end if;
    raise exception 'this Idempotency-Key was first used with a different request'
      using errcode = 'SJ422';
  end if;
  delete from private.idempotency_keys k
  where k.key = p_key
     or k.key in (select e.key from private.idempotency_keys e
                  where e.expires_at <= now()
                  order by e.expires_at limit 20
                  for update skip locked);
  return null;
end
$$;
revoke all on function private.claim_idempotency_key(text, bytea) from public, anon, authenticated;

-- ===== 20_functions/63_submit_job.sql =====
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

  -- The message first, then the job that names it: each row written once.
  v_job_id := gen_random_uuid();
  if v_run_at is not null and v_run_at > now() then
    -- PGMQ's delayed send (whole seconds), then the exact due time.
    select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id),
                     ceil(extract(epoch from v_run_at - now()))::integer)
      into v_msg_id;
    update pgmq.q_work_queue set vt = v_run_at where msg_id = v_msg_id;
    insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key, status, run_at)
    values (v_job_id, v_name, v_kind, v_payload, v_msg_id, submit_job.idempotency_key,
            'scheduled', v_run_at);
  else
    select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id)) into v_msg_id;
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

-- ===== 20_functions/64_submit_jobs.sql =====
-- submit_jobs(items, idempotency_key): many jobs in one transaction, all or nothing.
--
-- items is a JSON array of 1 to 1,000 objects {task_name, kind?, payload?}, each held to
-- submit_job's rules; an error names the item ("items[3].task_name ...", column
-- /items/3/task_name) with submit_job's SQLSTATEs. Set-based: one statement checks every item,
-- one sends every message (pgmq.send_batch, so the queue trigger decides once for the batch),
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

  -- The first bad item's problem, if any, in one statement.
  select e.i - 1 as at, e.problem into v_problem
  from (
    select i, case
      when jsonb_typeof(item) <> 'object'
        then array['', ' must be a JSON object like {"task_name": "..."}']
      when exists (select from jsonb_object_keys(item) k where k not in ('task_name', 'kind', 'payload'))
        then array['', ' has unknown field(s); a job is {task_name, kind, payload}']
      when jsonb_typeof(item -> 'task_name') is distinct from 'string'
        then array['/task_name', '.task_name is required and must be a string']
      when coalesce(jsonb_typeof(item -> 'kind'), 'null') not in ('string', 'null')
        then array['/kind', '.kind must be a string']
      when not exists (select from public.task_kinds k
                       where k.kind = coalesce(item ->> 'kind', v_default))
        then array['/kind', '.kind ' || coalesce(quote_literal(item ->> 'kind'), 'null')
                   || ' is not a known task kind']
      else (select array['/' || x.p[1], '.' || x.p[2]]
            from (select private.new_job_problem(item ->> 'task_name',
                                                 nullif(item -> 'payload', 'null'::jsonb)) as p) x)
    end as problem
    from jsonb_array_elements(items) with ordinality as a(item, i)
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

  -- One statement for all messages. Their msg_ids come from the queue's sequence row by row in
  -- unnest's order, so sorted they line up with the items.
  select array_agg(m order by m) into v_msg_ids
  from pgmq.send_batch('work_queue', (
    select array_agg(jsonb_build_object('job_id', j) order by i)
    from unnest(v_job_ids) with ordinality as u(j, i))) as m;

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

-- ===== 20_functions/65_cancel_job.sql =====
-- Cancel: a job not yet running is cancelled at once and its message archived; a running one
-- is marked, and its worker ends it; a finished job is left as it is. Returns the status the
-- job had before the call (the API answers 409 for completed or failed), null for no job.
-- Locks the job, then archives its message only if no claim holds it (SKIP LOCKED): a claim
-- that has it will find the job cancelled and archive it as skipped.
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
    perform private.archive_unlocked(v_job.msg_id);
  elsif v_job.status = 'running' then
    update public.job_results set cancel_requested_at = coalesce(cancel_requested_at, now())
    where job_id = cancel_job.job_id;
  end if;
  return v_job.status;
end
$$;
revoke all on function public.cancel_job(uuid) from public, anon, authenticated;
grant execute on function public.cancel_job(uuid) to service_role;

-- ===== 20_functions/66_retry_job.sql =====
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
  select j.status, j.msg_id into v_job from public.job_results j
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
  select pgmq.send('work_queue', jsonb_build_object('job_id', retry_job.job_id)) into v_msg_id;
  update public.job_results
  set status = 'pending', run = run + 1, attempts = 0, msg_id = v_msg_id, result = null,
      error = null, progress = null, progress_total = null, progress_message = null,
      cancel_requested_at = null, started_at = null, finished_at = null, run_at = null,
      claimed_by = null
  where job_id = retry_job.job_id;
  return v_job.status;
end
$$;
revoke all on function public.retry_job(uuid) from public, anon, authenticated;
grant execute on function public.retry_job(uuid) to service_role;

-- ===== 20_functions/67_publish_kinds.sql =====
-- A worker publishes its task registry at cold start: each kind added or updated (kinds not
-- given stay: another worker version may run them), and the default kind, when given, made the
-- only default. kinds is a JSON array of {kind, description, payload_schema, time_limit_s,
-- is_default}.
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
  insert into public.task_kinds as t (kind, description, payload_schema, time_limit_s, is_default)
  select k.kind, k.description, k.payload_schema, k.time_limit_s, coalesce(k.is_default, false)
  from jsonb_to_recordset(p_kinds)
    as k(kind text, description text, payload_schema jsonb, time_limit_s double precision,
         is_default boolean)
  on conflict (kind) do update
  set description = excluded.description, payload_schema = excluded.payload_schema,
      time_limit_s = excluded.time_limit_s, published_at = now(),
      is_default = excluded.is_default or (t.is_default and not exists (
        select from jsonb_to_recordset(p_kinds) as d(is_default boolean) where d.is_default));
end
$$;
revoke all on function private.publish_kinds(jsonb) from public, anon, authenticated;

-- ===== 30_triggers/10_call_job_webhook.sql =====
-- The queue's AFTER INSERT trigger: wakes a worker when none holds the queue.
--
-- Why no wake-up is lost: the first message of each enqueuing transaction takes WAKE_LOCK
-- shared and keeps it until commit, then reads the leases. A leaving worker takes WAKE_LOCK
-- exclusively and only then drops its lease and looks at the queue. So an enqueuer that saw a
-- lease and sent nothing either committed before that look (which sees its messages) or reads
-- the leases after the worker has left (and wakes one itself). Later messages of the same
-- transaction are covered by the first one's decision, so they only read a transaction-local
-- flag: a batch of 1,000 decides once.
create or replace function private.call_job_webhook() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  if current_setting('supajobs.wake_decided', true) = 'yes' then
    return null;
  end if;
  perform set_config('supajobs.wake_decided', 'yes', true);
  perform pg_advisory_xact_lock_shared(private.wake_lock_key());
  -- A repeatable read or serializable transaction's snapshot may still show a lease already
  -- dropped, so it asks for a worker whatever it sees (wake_workers counts under its own lock
  -- and the latest rows only in read committed; there it may send one more than needed).
  if current_setting('transaction_isolation') <> 'read committed' then
    perform private.send_wakeup('enqueued (' || current_setting('transaction_isolation') || ')');
  elsif not exists (select from private.queue_leases where expires_at > clock_timestamp()) then
    perform private.wake_workers(1, 'enqueued');
  end if;
  return null;
end
$$;
revoke all on function private.call_job_webhook() from public, anon, authenticated;

-- A delayed message's wake-up is the sweep's, when it is due: no call at submit.
drop trigger if exists call_job_webhook on pgmq.q_work_queue;
create trigger call_job_webhook after insert on pgmq.q_work_queue
  for each row when (new.vt <= now() + interval '1 second')
  execute function private.call_job_webhook();

-- ===== 30_triggers/20_job_results_touch.sql =====
-- updated_at follows every change of a job.
create or replace function public.job_results_touch() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end
$$;

drop trigger if exists job_results_touch on public.job_results;
create trigger job_results_touch before update on public.job_results
  for each row execute function public.job_results_touch();

-- ===== 30_triggers/30_job_results_settle_cancel.sql =====
-- A cancel-requested job never goes back to pending, and an attempt that fails after the
-- request ends the job cancelled: whichever writer comes last, the job ends in exactly one
-- terminal state.
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

-- ===== 30_triggers/40_record_job_event.sql =====
-- Every transition of a job, and every attempt, becomes a row of public.job_events.
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

-- ===== 40_policies/10_job_results.sql =====
-- Who reads jobs: anyone with the anon key reads the public demo jobs (no owner); a signed-in
-- user reads their own. Only the functions (service role, or the owner through them) write.
-- (select auth.uid()) is evaluated once per statement, not once per row (Supabase's advice).
drop policy if exists "public demo jobs are readable by anyone" on public.job_results;
create policy "public demo jobs are readable by anyone" on public.job_results
  for select to anon using (owner_id is null);

drop policy if exists "signed-in users read their own jobs" on public.job_results;
create policy "signed-in users read their own jobs" on public.job_results
  for select to authenticated using (owner_id = (select auth.uid()));

revoke all on public.job_results from anon, authenticated;
grant select on public.job_results to anon, authenticated;
grant all on public.job_results to service_role;

-- ===== 40_policies/20_job_events.sql =====
-- A job's events are readable exactly as its job is: the subquery reads job_results under its
-- own policies, so the two tables cannot disagree.
drop policy if exists "job events are readable as their job is" on public.job_events;
create policy "job events are readable as their job is" on public.job_events
  for select to anon, authenticated
  using (exists (select 1 from public.job_results j where j.job_id = job_events.job_id));

revoke all on public.job_events from public, anon, authenticated;
grant select on public.job_events to anon, authenticated;
grant select on public.job_events to service_role;

-- ===== 50_realtime.sql =====
-- Realtime carries every change of a job to the page (postgres_changes on job_results).
do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime')
     and not exists (select 1 from pg_publication_tables
                     where pubname = 'supabase_realtime'
                       and schemaname = 'public' and tablename = 'job_results') then
    alter publication supabase_realtime add table public.job_results;
  end if;
end
$$;

-- ===== 60_queue_upkeep.sql =====
-- The queue table churns: every job is one insert, one or two updates and one delete. With
-- the default autovacuum thresholds (20 % of the table) a burst of 10,000 leaves thousands of
-- dead rows that every claim's index scan walks over; vacuuming after 1,000 changes without a
-- cost pause keeps the head of the queue clean. The table is the migrating role's (pgmq's
-- after-create hands its members over on hosted projects).
alter table pgmq.q_work_queue set (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_insert_scale_factor = 0,
  autovacuum_vacuum_insert_threshold = 1000,
  autovacuum_vacuum_cost_delay = 0
);

-- ===== 70_sweep_schedule.sql =====
-- The sweep as a Supabase Cron job, every 2 seconds, where pg_cron serves this database (it
-- does on hosted projects once the Cron integration is on; there `create extension pg_cron`
-- is the migrating role's to run). A pg_cron before 1.5 knows only whole minutes: there a job
-- each minute sweeps every 2 seconds for the minute. Elsewhere the local stack's sweeper calls
-- the same SQL.
do $$
begin
  if not exists (select from pg_extension where extname = 'pg_cron')
     and exists (select from pg_available_extensions where name = 'pg_cron')
     and current_setting('cron.database_name', true) = current_database() then
    create extension pg_cron;
  end if;
  if exists (select from pg_extension where extname = 'pg_cron') then
    begin
      perform cron.schedule('supajobs-sweep', '2 seconds', 'select private.sweep()');
    exception when others then
      perform cron.schedule('supajobs-sweep', '* * * * *', 'call private.sweep_for(58)');
    end;
  end if;
end
$$;
