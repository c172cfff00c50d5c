-- A flow-controlled job that ends (completed, failed or cancelled, from whatever state) gives
-- back its slot or its place in line, and the kind's next jobs are admitted in the same
-- transaction. Jobs without flow control never fire it (the WHEN clause), so their path pays
-- nothing. The kind's lock comes after the message and job locks the ending writer holds;
-- flow_admit only ever skips locked jobs, so the two never wait on each other in a cycle.
create or replace function private.flow_release() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  perform pg_advisory_xact_lock(hashtext('supajobs.flow'), hashtext(new.kind));
  delete from private.flow_slots s where s.job_id = new.job_id;
  with gone as (
    delete from private.flow_waiting w where w.job_id = new.job_id returning w.kind, w.fair_key
  )
  update private.flow_owners o set waiting = o.waiting - 1
  from gone where o.kind = gone.kind and o.fair_key = gone.fair_key;
  perform private.flow_admit(new.kind);
  return null;
end
$$;
revoke all on function private.flow_release() from public, anon, authenticated;

drop trigger if exists flow_release on public.job_results;
create trigger flow_release after update of status on public.job_results
  for each row
  when (new.flow_controlled and new.status in ('completed', 'failed', 'cancelled')
        and old.status not in ('completed', 'failed', 'cancelled'))
  execute function private.flow_release();
