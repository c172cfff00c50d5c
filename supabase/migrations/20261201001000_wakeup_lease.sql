-- Coalesced wake-ups: the queue trigger calls the webhook only when no worker holds the queue.
--
-- A worker holds a lease (a row of private.queue_leases, renewed while it drains); the trigger
-- of every enqueued message reads the leases and, if one is live, sends nothing. When no lease
-- is live the trigger takes the 'wake-up' lease for a short window and sends one signed call, so
-- a burst before the woken worker arrives costs one call, not one per message.
--
-- Why no wake-up is lost: every enqueueing transaction takes the advisory lock WAKE_LOCK shared
-- (transaction-scoped, so it works through a transaction pooler) before it reads the leases,
-- and keeps it until it commits. A leaving worker takes the same lock exclusively, and only then
-- drops its lease and looks at the queue once more, in that one transaction. So an enqueuer that
-- saw a lease and sent nothing either committed before the leaving worker's look (which then
-- sees its message) or waits for the leaving worker to commit and then reads the leases without
-- it (and calls the webhook itself).

create table if not exists private.queue_leases (
  holder     text primary key,
  expires_at timestamptz not null
);
revoke all on private.queue_leases from public, anon, authenticated;

-- The one WAKE_LOCK key, shared by the trigger and leave_work_queue.
create or replace function private.wake_lock_key() returns bigint
language sql immutable parallel safe
as $$ select 7305241100000000011::bigint $$;
revoke all on function private.wake_lock_key() from public, anon, authenticated;

-- One signed call of the webhook for a message (Standard Webhooks, as 20261130002000 defined).
-- Takes the 'wake-up' lease for p_window first: while it lasts, other enqueuers send nothing.
-- Returns whether a call was queued.
create or replace function private.send_wakeup(
  p_msg_id bigint, p_message jsonb, p_window interval default interval '10 seconds'
) returns boolean
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_target record := private.webhook_target();
  v_body jsonb;
  v_id text;
  v_ts bigint;
begin
  if v_target.url is null or v_target.url = '' then
    return false;  -- no webhook configured: the message waits for the sweeper
  end if;
  begin
    -- Two enqueuers that both saw no lease meet here: the second waits for the first to
    -- commit and then finds its window taken.
    insert into private.queue_leases as l (holder, expires_at)
      values ('wake-up', clock_timestamp() + p_window)
      on conflict (holder) do update set expires_at = excluded.expires_at
      where l.expires_at <= clock_timestamp();
    if not found then
      return false;
    end if;
    v_body := jsonb_build_object(
      'msg_id', p_msg_id,
      'job_id', p_message ->> 'job_id',
      'task_name', p_message ->> 'task_name');
    v_id := 'msg_' || p_msg_id;
    v_ts := floor(extract(epoch from clock_timestamp()))::bigint;
    perform net.http_post(
      url := v_target.url,
      body := v_body,
      params := '{}'::jsonb,
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'webhook-id', v_id,
        'webhook-timestamp', v_ts::text,
        -- pg_net sends convert_to(body::text, 'UTF8'): the signature covers that same text.
        'webhook-signature', private.webhook_signature(
          v_id, v_ts, v_body::text, coalesce(v_target.secret, ''))),
      timeout_milliseconds := 5000);
  exception when others then
    -- A failed wake-up (no secret, a malformed one) never undoes the submission, never goes
    -- out unsigned, and takes no window (this block's insert is undone with it).
    raise warning 'job webhook not queued for message %: %', p_msg_id, sqlerrm;
    return false;
  end;
  return true;
end
$$;
revoke all on function private.send_wakeup(bigint, jsonb, interval) from public, anon, authenticated;

-- Per message: a shared lock (a local lock-table hit after the transaction's first message)
-- and one look at a table of a few rows; the webhook's settings are read only when it is called.
create or replace function private.call_job_webhook() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  perform pg_advisory_xact_lock_shared(private.wake_lock_key());
  -- The lease is read with a snapshot taken after the lock only under read committed; a
  -- repeatable read or serializable transaction may still see a lease already dropped, so it
  -- always asks for a wake-up (the window still makes that one call per burst).
  if current_setting('transaction_isolation') <> 'read committed'
     or not exists (select from private.queue_leases where expires_at > clock_timestamp()) then
    perform private.send_wakeup(new.msg_id, new.message);
  end if;
  return null;
end
$$;
revoke all on function private.call_job_webhook() from public, anon, authenticated;

-- A worker takes or renews its lease; while any lease is live, enqueuing calls no webhook.
create or replace function private.hold_work_queue(p_holder text, p_lease_s double precision)
returns void
language sql
security definer
set search_path = pg_catalog
as $$
  insert into private.queue_leases (holder, expires_at)
  values (p_holder, clock_timestamp() + make_interval(secs => p_lease_s))
  on conflict (holder) do update set expires_at = excluded.expires_at
$$;
revoke all on function private.hold_work_queue(text, double precision) from public, anon, authenticated;

-- A worker that found nothing to do leaves. Under WAKE_LOCK taken exclusively (so every
-- enqueuer that saw a lease has committed or rolled back, and none reads the leases until this
-- commits) it drops its lease and the wake-up window, then looks at the queue once more.
-- Visible work: with p_stay the caller keeps its lease and returns true (it drains on);
-- without, the database wakes a worker for it (returns false). Nothing visible: false.
create or replace function private.leave_work_queue(
  p_holder text, p_lease_s double precision, p_stay boolean
) returns boolean
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_msg record;
begin
  perform pg_advisory_xact_lock(private.wake_lock_key());
  delete from private.queue_leases where holder in (p_holder, 'wake-up');
  select q.msg_id, q.message into v_msg
  from pgmq.q_work_queue q
  where q.vt <= clock_timestamp()
  order by q.msg_id
  limit 1;
  if not found then
    return false;
  end if;
  if p_stay then
    perform private.hold_work_queue(p_holder, p_lease_s);
    return true;
  end if;
  perform private.send_wakeup(v_msg.msg_id, v_msg.message);
  return false;
end
$$;
revoke all on function private.leave_work_queue(text, double precision, boolean) from public, anon, authenticated;
