-- One row a job: what was asked, where it stands, and how it ended.
create table if not exists public.job_results (
  job_id          uuid primary key default gen_random_uuid(),
  task_name       text not null,
  payload         jsonb not null default '{}'::jsonb,
  status          text not null default 'pending'
                  constraint job_results_status_check
                  check (status in ('pending', 'running', 'completed', 'failed')),
  result          text,
  error           text,
  attempts        integer not null default 0,
  msg_id          bigint,
  idempotency_key text unique,
  created_at      timestamptz not null default now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  updated_at      timestamptz not null default now()
);

create index if not exists job_results_newest_first on public.job_results (created_at desc, job_id);

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

-- Everyone with the anon key may watch jobs; only the service role (the functions) writes them.
alter table public.job_results enable row level security;
alter table public.job_results replica identity full;

drop policy if exists "jobs are readable by clients" on public.job_results;
create policy "jobs are readable by clients" on public.job_results
  for select to anon, authenticated using (true);

revoke all on public.job_results from anon, authenticated;
grant select on public.job_results to anon, authenticated;
grant all on public.job_results to service_role;

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
