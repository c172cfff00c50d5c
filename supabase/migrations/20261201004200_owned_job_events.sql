-- A job's events are readable exactly as its job is: the lifecycle migration (003000) let
-- every client read every event, which predates owned jobs (004100) and would tell anyone the
-- history of another user's job. The subquery reads job_results under its own RLS policies,
-- so the two tables cannot disagree (public demo jobs for anon, own jobs for authenticated).
drop policy if exists "job events are readable by clients" on public.job_events;
drop policy if exists "job events are readable as their job is" on public.job_events;
create policy "job events are readable as their job is" on public.job_events
  for select to anon, authenticated
  using (exists (select 1 from public.job_results j where j.job_id = job_events.job_id));
