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
