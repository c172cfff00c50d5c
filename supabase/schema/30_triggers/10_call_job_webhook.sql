-- The queue's AFTER INSERT trigger: wakes a worker when none holds the queue.
--
-- Why no wake-up is lost: the first message of each enqueuing transaction takes WAKE_LOCK
-- shared and keeps it until commit, then reads the leases. A leaving worker takes WAKE_LOCK
-- exclusively and only then drops its lease and looks at the queue. So an enqueuer that saw a
-- lease and sent nothing either committed before that look (which sees its messages) or reads
-- the leases after the worker has left (and wakes one itself). Later messages of the same
-- transaction are covered by the first one's decision, so they only read a transaction-local
-- flag: a batch of 1,000 decides once.
create or replace function private.call_job_webhook() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  if current_setting('supajobs.wake_decided', true) = 'yes' then
    return null;
  end if;
  perform set_config('supajobs.wake_decided', 'yes', true);
  perform pg_advisory_xact_lock_shared(private.wake_lock_key());
  -- A repeatable read or serializable transaction's snapshot may still show a lease already
  -- dropped, so it asks for a worker whatever it sees (wake_workers counts under its own lock
  -- and the latest rows only in read committed; there it may send one more than needed).
  if current_setting('transaction_isolation') <> 'read committed' then
    perform private.send_wakeup('enqueued (' || current_setting('transaction_isolation') || ')');
  elsif not exists (select from private.queue_leases where expires_at > clock_timestamp()) then
    perform private.wake_workers(1, 'enqueued');
  end if;
  return null;
end
$$;
revoke all on function private.call_job_webhook() from public, anon, authenticated;

-- A delayed message's wake-up is the sweep's, when it is due: no call at submit.
drop trigger if exists call_job_webhook on pgmq.q_work_queue;
create trigger call_job_webhook after insert on pgmq.q_work_queue
  for each row when (new.vt <= now() + interval '1 second')
  execute function private.call_job_webhook();
