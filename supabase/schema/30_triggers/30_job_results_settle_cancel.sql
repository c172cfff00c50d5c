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
