-- One signed call of the webhook: a new wake-up with its own id, which the woken worker takes
-- as its lease (private.take_wake_up) and which is honoured once. The id's lease row counts as
-- a worker for p_window, so callers that count workers count this one until it arrives.
-- Returns whether a call was queued. Callers hold SEND_LOCK (private.wake_workers).
create or replace function private.send_wakeup(
  p_reason text, p_window interval default interval '10 seconds'
) returns boolean
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_target record := private.webhook_target();
  v_id text;
  v_body jsonb;
  v_ts bigint;
begin
  if v_target.url is null or v_target.url = '' then
    return false;  -- no webhook configured: the sweep wakes nobody either
  end if;
  begin
    -- Unique, and free of dots as the Standard Webhooks specification asks of an id.
    v_id := 'wake_' || replace(gen_random_uuid()::text, '-', '');
    insert into private.queue_leases (holder, expires_at) values (v_id, clock_timestamp() + p_window);
    insert into private.wake_ups (wake_id, reason) values (v_id, p_reason);
    v_body := jsonb_build_object('wake_id', v_id);
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
    -- out unsigned, and takes no slot (this block's inserts are undone with it).
    raise warning 'job wake-up not queued (%): %', p_reason, sqlerrm;
    return false;
  end;
  return true;
end
$$;
revoke all on function private.send_wakeup(text, interval) from public, anon, authenticated;
