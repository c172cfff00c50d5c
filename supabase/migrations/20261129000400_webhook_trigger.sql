-- When a message enters work_queue, the database calls the webhook through pg_net.
-- The webhook's URL and secret are configuration, never part of a migration: on hosted Supabase
-- they live in Vault (vault.create_secret('<url>', 'job_webhook_url') and 'job_webhook_secret'),
-- elsewhere in the private settings table (see devstack/migrate.py --webhook-url).
create schema if not exists private;
revoke all on schema private from public, anon, authenticated;

create table if not exists private.settings (
  name  text primary key,
  value text not null
);
revoke all on private.settings from public, anon, authenticated;

-- Both settings in one call: the trigger runs once per enqueued message.
create or replace function private.webhook_target(out url text, out secret text)
language plpgsql
stable
security definer
set search_path = pg_catalog
as $$
begin
  if to_regclass('vault.decrypted_secrets') is not null then
    execute 'select max(decrypted_secret) filter (where name = ''job_webhook_url''),
                    max(decrypted_secret) filter (where name = ''job_webhook_secret'')
             from vault.decrypted_secrets
             where name in (''job_webhook_url'', ''job_webhook_secret'')'
      into url, secret;
  end if;
  if url is null or secret is null then
    select coalesce(url, max(s.value) filter (where s.name = 'job_webhook_url')),
           coalesce(secret, max(s.value) filter (where s.name = 'job_webhook_secret'))
      into url, secret
    from private.settings s
    where s.name in ('job_webhook_url', 'job_webhook_secret');
  end if;
end
$$;
revoke all on function private.webhook_target() from public, anon, authenticated;

create or replace function private.call_job_webhook() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_target record := private.webhook_target();
begin
  if v_target.url is null or v_target.url = '' then
    return null;  -- no webhook configured: the message waits for the sweeper
  end if;
  begin
    perform net.http_post(
      url := v_target.url,
      body := jsonb_build_object(
        'msg_id', new.msg_id,
        'job_id', new.message ->> 'job_id',
        'task_name', new.message ->> 'task_name'),
      params := '{}'::jsonb,
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'Authorization', 'Bearer ' || coalesce(v_target.secret, '')),
      timeout_milliseconds := 5000);
  exception when others then
    -- A failed wake-up must never undo the submission; the sweeper picks the message up.
    raise warning 'job webhook not queued for message %: %', new.msg_id, sqlerrm;
  end;
  return null;
end
$$;
revoke all on function private.call_job_webhook() from public, anon, authenticated;

drop trigger if exists call_job_webhook on pgmq.q_work_queue;
create trigger call_job_webhook after insert on pgmq.q_work_queue
  for each row execute function private.call_job_webhook();
