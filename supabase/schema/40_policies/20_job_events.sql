-- A job's events are readable exactly as its job is: the subquery reads job_results under its
-- own policies, so the two tables cannot disagree.
drop policy if exists "job events are readable as their job is" on public.job_events;
create policy "job events are readable as their job is" on public.job_events
  for select to anon, authenticated
  using (exists (select 1 from public.job_results j where j.job_id = job_events.job_id));

revoke all on public.job_events from public, anon, authenticated;
grant select on public.job_events to anon, authenticated;
grant select on public.job_events to service_role;
