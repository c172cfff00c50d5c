-- The Idempotency-Key rule shared by submit_job and submit_jobs. Holds the key's advisory lock
-- to the end of the transaction (a second request with the key meanwhile is told so at once,
-- SJ409, rather than waiting); then either the jobs a first request with the same fingerprint
-- created (a replay), SJ422 for a different request, or null (a new key: its expired
-- predecessor and up to 20 other expired keys are removed, so the table holds about a day).
create or replace function private.claim_idempotency_key(p_key text, p_fingerprint bytea)
returns uuid[]
language plpgsql
set search_path = pg_catalog
as $$
declare
  v_seen bytea;
  v_ids uuid[];
begin
  if char_length(p_key) not between 1 and 200 or p_key ~ '[[:cntrl:]]' then
    raise exception 'idempotency key must be 1 to 200 printable characters'
      using errcode = '22023';
  end if;
  if not pg_try_advisory_xact_lock(hashtext('supajobs.idempotency_key'), hashtext(p_key)) then
    raise exception 'a request with this Idempotency-Key is still being processed; retry shortly'
      using errcode = 'SJ409';
  end if;
  select k.fingerprint, coalesce(k.job_ids, array[k.job_id]) into v_seen, v_ids
  from private.idempotency_keys k
  where k.key = p_key and k.expires_at > now();
  if found then
    if v_seen = p_fingerprint then
      return v_ids;
    end if;
    raise exception 'this Idempotency-Key was first used with a different request'
      using errcode = 'SJ422';
  end if;
  delete from private.idempotency_keys k
  where k.key = p_key
     or k.key in (select e.key from private.idempotency_keys e
                  where e.expires_at <= now()
                  order by e.expires_at limit 20
                  for update skip locked);
  return null;
end
$$;
revoke all on function private.claim_idempotency_key(text, bytea) from public, anon, authenticated;
