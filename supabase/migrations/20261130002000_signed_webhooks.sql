-- Signed webhooks (Standard Webhooks, https://www.standardwebhooks.com) instead of a bearer secret.
-- pg_net keeps queued requests in tables every API role can read (upstream grants them to
-- PUBLIC), so whatever a queued call carries must be useless beyond that one call: a signature
-- of its exact body, valid only within the receiver's tolerance window (5 minutes by default).
-- job_webhook_secret (Vault, or private.settings) holds a `whsec_<base64 key>` secret, or several
-- separated by spaces during a rotation: each signs, and the receiver accepts any it knows.

-- HMAC comes from pgcrypto, which hosted Supabase installs in schema `extensions`.
do $$
declare
  v_schema text;
begin
  if to_regprocedure('extensions.hmac(bytea, bytea, text)') is not null then
    return;
  end if;
  select n.nspname into v_schema
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
  where e.extname = 'pgcrypto';
  if v_schema is not null then
    raise exception 'pgcrypto is installed in schema %, but the webhook trigger calls extensions.hmac: move it with "alter extension pgcrypto set schema extensions"', v_schema;
  end if;
  if not exists (select 1 from pg_available_extensions where name = 'pgcrypto') then
    raise exception 'extensions.hmac is missing and pgcrypto is not available: enable pgcrypto in schema extensions, or run the migration runner (python -m devstack.migrate), which provides it';
  end if;
  if to_regnamespace('extensions') is null then
    create schema extensions;
  end if;
  create extension pgcrypto with schema extensions;
end
$$;

-- The `webhook-signature` header for one message: a `v1,<base64>` entry per secret in `secrets`.
create or replace function private.webhook_signature(
  msg_id text, ts bigint, body text, secrets text
) returns text
language plpgsql
stable
strict
set search_path = pg_catalog
as $$
declare
  v_secret text;
  v_encoded text;
  v_key bytea;
  v_signed bytea := convert_to(msg_id || '.' || ts || '.' || body, 'UTF8');
  v_signatures text[] := '{}';
begin
  foreach v_secret in array regexp_split_to_array(btrim(secrets, E' \t\r\n,'), '[[:space:],]+') loop
    if left(v_secret, 6) <> 'whsec_' then
      raise exception 'a webhook secret starts with whsec_' using errcode = '22023';
    end if;
    v_encoded := substr(v_secret, 7);
    -- Unpadded base64 is accepted, as the reference libraries do.
    v_key := decode(v_encoded || repeat('=', (4 - length(v_encoded) % 4) % 4), 'base64');
    if octet_length(v_key) not between 24 and 64 then
      raise exception 'a webhook secret''s key is 24 to 64 bytes, not %', octet_length(v_key)
        using errcode = '22023';
    end if;
    v_signatures := v_signatures
      || ('v1,' || encode(extensions.hmac(v_signed, v_key, 'sha256'), 'base64'));
  end loop;
  return array_to_string(v_signatures, ' ');
end
$$;
revoke all on function private.webhook_signature(text, bigint, text, text) from public, anon, authenticated;

create or replace function private.call_job_webhook() returns trigger
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
    return null;  -- no webhook configured: the message waits for the sweeper
  end if;
  begin
    v_body := jsonb_build_object(
      'msg_id', new.msg_id,
      'job_id', new.message ->> 'job_id',
      'task_name', new.message ->> 'task_name');
    -- Unique per message and free of dots, as the specification asks of an id.
    v_id := 'msg_' || new.msg_id;
    v_ts := floor(extract(epoch from clock_timestamp()))::bigint;
    perform net.http_post(
      url := v_target.url,
      body := v_body,
      params := '{}'::jsonb,
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'webhook-id', v_id,
        'webhook-timestamp', v_ts::text,
        -- pg_net sends convert_to(body::text, 'UTF8'); signing that same text is what makes
        -- the signature hold for the bytes on the wire.
        'webhook-signature', private.webhook_signature(
          v_id, v_ts, v_body::text, coalesce(v_target.secret, ''))),
      timeout_milliseconds := 5000);
  exception when others then
    -- A failed wake-up (no secret, a malformed one) must never undo the submission and never
    -- goes out unsigned; the sweeper picks the message up.
    raise warning 'job webhook not queued for message %: %', new.msg_id, sqlerrm;
  end;
  return null;
end
$$;
revoke all on function private.call_job_webhook() from public, anon, authenticated;
