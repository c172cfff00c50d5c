-- Who holds the queue: a row per draining worker (renewed by its heartbeat) and the 'wake-up'
-- window of a call on its way. While any row is live, enqueuing sends no wake-up; see
-- private.call_job_webhook and private.leave_work_queue.
create table if not exists private.queue_leases (
  holder     text primary key,
  expires_at timestamptz not null
);
revoke all on private.queue_leases from public, anon, authenticated;
