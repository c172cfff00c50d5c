-- One row a transition or attempt of a job, written only by the trigger
-- private.record_job_events.
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
