-- submit_job also refuses payloads nested deeper than 64 levels, as the functions do.
--
-- Idempotency keys remember the request they first came with (a SHA-256 fingerprint) for 24
-- hours, as the IETF Idempotency-Key draft describes: the same key with the same request
-- answers with the first job; with a different request, SQLSTATE SJ422 (HTTP 422); while the
-- first request with the key is still in its transaction, SJ409 (HTTP 409).
create table if not exists private.idempotency_keys (
  key         text primary key,
  -- sha256 of the canonical request (jsonb text of {task_name, payload}); null for keys kept
  -- from before fingerprints, which replay their job until they expire.
  fingerprint bytea,
  job_id      uuid not null references public.job_results (job_id) on delete cascade,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null default now() + interval '24 hours'
);
create index if not exists idempotency_keys_expiry on private.idempotency_keys (expires_at);
revoke all on private.idempotency_keys from public, anon, authenticated;

insert into private.idempotency_keys (key, fingerprint, job_id, created_at, expires_at)
select j.idempotency_key, null, j.job_id, j.created_at, j.created_at + interval '24 hours'
from public.job_results j
where j.idempotency_key is not null
on conflict (key) do nothing;

-- The key table decides now; job_results.idempotency_key stays as a record of which key made
-- the job, and a key may come back after it expires.
alter table public.job_results drop constraint if exists job_results_idempotency_key_key;

create or replace function public.submit_job(
  task_name text,
  payload jsonb default '{}'::jsonb,
  idempotency_key text default null
) returns uuid
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_name        text := btrim(task_name);
  v_job_id      uuid;
  v_msg_id      bigint;
  v_fingerprint bytea;
  v_seen        bytea;
begin
  if v_name is null or v_name = '' then
    raise exception 'task_name is required and may not be blank' using errcode = '22023';
  end if;
  if char_length(v_name) > 200 then
    raise exception 'task_name is % characters long; the limit is 200', char_length(v_name)
      using errcode = '22023';
  end if;
  if v_name ~ '[[:cntrl:]]' then
    raise exception 'task_name may not contain control characters' using errcode = '22023';
  end if;
  payload := coalesce(payload, '{}'::jsonb);
  if jsonb_typeof(payload) <> 'object' then
    raise exception 'payload must be a JSON object, not %', jsonb_typeof(payload)
      using errcode = '22023';
  end if;
  -- As deep as the functions' strict JSON parser allows: no value below level 64.
  if jsonb_path_exists(payload, 'strict $.**{65 to last}') then
    raise exception 'payload nests deeper than 64 levels' using errcode = '22023';
  end if;
  if octet_length(payload::text) >= 65536 then
    raise exception 'payload is % bytes as JSON; the limit is 65535', octet_length(payload::text)
      using errcode = '22023';
  end if;
  if idempotency_key is not null
     and (char_length(idempotency_key) not between 1 and 200 or idempotency_key ~ '[[:cntrl:]]') then
    raise exception 'idempotency key must be 1 to 200 printable characters' using errcode = '22023';
  end if;

  if submit_job.idempotency_key is not null then
    -- Held to the end of this transaction: a second request with the key meanwhile is told
    -- so at once (409) rather than waiting on the first one's row lock.
    if not pg_try_advisory_xact_lock(
      hashtext('supajobs.idempotency_key'), hashtext(submit_job.idempotency_key)
    ) then
      raise exception 'a request with this Idempotency-Key is still being processed; retry shortly'
        using errcode = 'SJ409';
    end if;
    -- jsonb text is canonical (keys ordered, spacing fixed), so the same request written
    -- differently has the same fingerprint.
    v_fingerprint := sha256(convert_to(
      jsonb_build_object('task_name', v_name, 'payload', submit_job.payload)::text, 'UTF8'));

    select k.job_id, k.fingerprint into v_job_id, v_seen
    from private.idempotency_keys k
    where k.key = submit_job.idempotency_key and k.expires_at > now();
    if found then
      if v_seen is null or v_seen = v_fingerprint then
        return v_job_id;  -- a retried submission: the job the first one created
      end if;
      raise exception 'this Idempotency-Key was first used with a different request'
        using errcode = 'SJ422';
    end if;

    -- Expiry without a scheduler: each new key removes its own expired predecessor and up to
    -- 20 other expired keys, so the table holds about one day of keys.
    delete from private.idempotency_keys k
    where k.key = submit_job.idempotency_key
       or k.key in (select e.key from private.idempotency_keys e
                    where e.expires_at <= now()
                    order by e.expires_at limit 20
                    for update skip locked);
  end if;

  -- The message first, then the job that names it: each row written once.
  v_job_id := gen_random_uuid();
  select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id, 'task_name', v_name))
    into v_msg_id;
  insert into public.job_results (job_id, task_name, payload, msg_id, idempotency_key)
  values (v_job_id, v_name, submit_job.payload, v_msg_id, submit_job.idempotency_key);
  if submit_job.idempotency_key is not null then
    insert into private.idempotency_keys (key, fingerprint, job_id)
    values (submit_job.idempotency_key, v_fingerprint, v_job_id);
  end if;
  return v_job_id;
end
$$;

revoke all on function public.submit_job(text, jsonb, text) from public, anon, authenticated;
grant execute on function public.submit_job(text, jsonb, text) to service_role;
