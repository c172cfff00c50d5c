-- Own jobs: a job submitted with a user's access token belongs to that user. The submit
-- function puts the verified claims in request.jwt.claims for its transaction, and the
-- column's default reads them through auth.uid(), so submit_job needs no new argument.
-- Jobs without an owner are the public demo mode's: anyone with the anon key reads them.
alter table public.job_results add column if not exists owner_id uuid default auth.uid();

create index if not exists job_results_owner_newest
  on public.job_results (owner_id, created_at desc, job_id);

drop policy if exists "jobs are readable by clients" on public.job_results;

drop policy if exists "public demo jobs are readable by anyone" on public.job_results;
create policy "public demo jobs are readable by anyone" on public.job_results
  for select to anon using (owner_id is null);

-- (select auth.uid()) is evaluated once per statement, not once per row (Supabase's advice).
drop policy if exists "signed-in users read their own jobs" on public.job_results;
create policy "signed-in users read their own jobs" on public.job_results
  for select to authenticated using (owner_id = (select auth.uid()));
