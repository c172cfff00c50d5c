-- Where pgcrypto is not available (the embedded Postgres is built without it), the one pgcrypto
-- function the migrations call, in the schema hosted Supabase keeps it in:
-- extensions.hmac(data bytea, key bytea, type text), RFC 2104 over core Postgres's sha256().
-- Only 'sha256' is provided; any other algorithm fails as pgcrypto fails for an unknown one.
create schema if not exists extensions;
grant usage on schema extensions to public;

create or replace function extensions.hmac(data bytea, key bytea, type text) returns bytea
language plpgsql
immutable
strict
parallel safe
set search_path = pg_catalog
as $$
declare
  v_key bytea := key;
  v_inner bytea;
  v_outer bytea;
begin
  if lower(type) <> 'sha256' then
    raise exception 'Cannot use "%": No such hash algorithm', type using errcode = '22023';
  end if;
  -- A key longer than SHA-256's 64-byte block is hashed first, then zero-padded to the block.
  if octet_length(v_key) > 64 then
    v_key := sha256(v_key);
  end if;
  v_key := v_key || decode(repeat('00', 64 - octet_length(v_key)), 'hex');
  v_inner := v_key;
  v_outer := v_key;
  for i in 0..63 loop
    v_inner := set_byte(v_inner, i, get_byte(v_key, i) # 54);  -- ipad 0x36
    v_outer := set_byte(v_outer, i, get_byte(v_key, i) # 92);  -- opad 0x5c
  end loop;
  return sha256(v_outer || sha256(v_inner || data));
end
$$;
