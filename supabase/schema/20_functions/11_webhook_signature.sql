-- The `webhook-signature` header of one call (Standard Webhooks): a `v1,<base64>` entry per
-- `whsec_` secret in `secrets` (several, space-separated, during a rotation).
-- pg_net keeps queued requests in tables every API role can read, so a queued call must be
-- useless beyond itself: a signature of its exact body, valid within the receiver's window.
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
