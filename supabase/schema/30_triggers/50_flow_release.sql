-- A flow-controlled job that ends (completed, failed or cancelled, from whatever state) gives
-- back its slot or its place in line, and the kind's next jobs are admitted in the same
-- transaction. Jobs without flow control never fire it (the WHEN clause), so their path pays
-- nothing. The kind's lock (private.flow_lock) comes after the message and job locks the
-- ending writer holds; flow_admit only ever skips locked jobs, and a writer ending jobs of
-- several kinds takes their locks in one order, so none wait on each other in a cycle.
create or replace function private.flow_release() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  perform private.flow_lock(new.kind);
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

-- The wake-up decision of messages flow_admit sent, at commit (a deferred trigger on the slots
-- it wrote), once per transaction: by then the transaction has taken every kind's lock it
-- needs, so the wake-up protocol's locks still come last. The decision is the queue trigger's
-- (private.call_job_webhook), which flow_admit kept from deciding mid-transaction.
create or replace function private.flow_wake() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  if current_setting('supajobs.flow_wake', true) is distinct from 'pending' then
    return null;
  end if;
  perform set_config('supajobs.flow_wake', 'done', true);
  perform pg_advisory_xact_lock_shared(private.wake_lock_key());
  if current_setting('transaction_isolation') <> 'read committed' then
    perform private.send_wakeup('enqueued (' || current_setting('transaction_isolation') || ')');
  elsif not exists (select from private.queue_leases where expires_at > clock_timestamp()) then
    perform private.wake_workers(1, 'enqueued');
  end if;
  return null;
end
$$;
revoke all on function private.flow_wake() from public, anon, authenticated;

drop trigger if exists flow_wake on private.flow_slots;
create constraint trigger flow_wake after insert on private.flow_slots
  deferrable initially deferred
  for each row execute function private.flow_wake();
