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
