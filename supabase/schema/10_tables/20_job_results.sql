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
  claimed_by          text,
  -- The job's W3C trace context (functions/tracing.py): the submit function puts it in the
  -- setting supajobs.traceparent for the submitting transaction, so the submit functions
  -- store it without taking it as an argument; the worker's spans for the job are its
  -- children. Null when the job was submitted untraced.
  traceparent         text default nullif(current_setting('supajobs.traceparent', true), ''),
  -- Flow control (private.flow_admit): a submitter's dedup key (while the job is unfinished, a
  -- submit with the same key and owner answers with this job), its priority within the kind's
  -- bounds, the concurrency key it counts against (evaluated at submit) and that key's limit.
  -- flow_controlled jobs wait in private.flow_waiting, without a message, until admitted.
  dedup_key           text,
  priority            integer,
  concurrency_key     text,
  concurrency_limit   integer,
  flow_controlled     boolean not null default false,
  -- The schedule that submitted it (private.job_schedules; kept when the schedule is deleted).
  schedule_id         uuid
);

create index if not exists job_results_newest_first on public.job_results (created_at desc, job_id);
create index if not exists job_results_by_status on public.job_results (status, created_at desc, job_id);
create index if not exists job_results_owner_newest on public.job_results (owner_id, created_at desc, job_id);
-- One unfinished job per owner and dedup key: the backstop of submit_job_flow's lock.
create unique index if not exists job_results_one_unfinished_dedup
  on public.job_results (dedup_key, coalesce(owner_id, '00000000-0000-0000-0000-000000000000'::uuid))
  where dedup_key is not null and status in ('pending', 'scheduled', 'running');

-- Realtime sends whole rows for updates and deletes.
alter table public.job_results replica identity full;
alter table public.job_results enable row level security;

-- For the operators' views (20_functions/80_queue_metrics.sql, the failures list, bulk
-- retry): partial, so each holds only what those read — the jobs by the time they ended, the
-- failed ones — and a job enters each once, when it ends. (The unfinished jobs are found
-- through job_results_by_status: an index of their own cost submit and claim an entry each,
-- 20 % of submit's throughput; bench/results/ISSUE23.md.)
create index if not exists job_results_finished on public.job_results (finished_at)
  include (kind, status, created_at, started_at)
  where finished_at is not null;
comment on index public.job_results_finished is
  'The jobs by the time they ended, for public.queue_metrics: a job enters it once, when it ends.';
create index if not exists job_results_failed on public.job_results (finished_at desc, kind)
  where status = 'failed';
comment on column public.job_results.traceparent is
  'The job''s W3C trace context, from the submit request or its submit span (functions/tracing.py).';
