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
