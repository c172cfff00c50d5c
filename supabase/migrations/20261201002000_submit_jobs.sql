-- submit_jobs(items jsonb, idempotency_key text): many jobs in one transaction, all or nothing.
--
-- items is a JSON array of 1 to 1,000 objects {task_name, payload?}, each held to submit_job's
-- rules (20261130006000); an error names the item, e.g. "items[3].task_name ...", with
-- submit_job's SQLSTATEs (22023 bad input, SJ409 key in flight, SJ422 key reused). The
-- messages go out in one pgmq.send_batch statement, so a queue trigger runs once per message
-- within one statement and a coalescing trigger sees one burst. Returns the job ids in the
-- items' order. An Idempotency-Key covers the whole batch: its fingerprint is the SHA-256 of
-- {"items": [...]} (never equal to a single job's {task_name, payload}), and a replay answers
-- with the same ids.

-- The ids a batch key answers with; null for a key made by submit_job (its job_id alone).
alter table private.idempotency_keys add column if not exists job_ids uuid[];

create or replace function public.submit_jobs(
  items jsonb,
  idempotency_key text default null
) returns uuid[]
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_count       int;
  v_item        jsonb;
  v_index       int := 0;
  v_name        text;
  v_payload     jsonb;
  v_where       text;
  v_names       text[] := '{}';
  v_payloads    jsonb[] := '{}';
  v_job_ids     uuid[] := '{}';
  v_msg_ids     bigint[];
  v_fingerprint bytea;
  v_seen        bytea;
  v_seen_ids    uuid[];
  v_seen_one    uuid;
begin
  if items is null or jsonb_typeof(items) <> 'array' then
    raise exception 'items must be a JSON array of jobs' using errcode = '22023';
  end if;
  v_count := jsonb_array_length(items);
  if v_count = 0 then
    raise exception 'items is empty; send 1 to 1000 jobs' using errcode = '22023';
  end if;
  if v_count > 1000 then
    raise exception 'items holds % jobs; the limit is 1000', v_count using errcode = '22023';
  end if;
  if idempotency_key is not null
     and (char_length(idempotency_key) not between 1 and 200 or idempotency_key ~ '[[:cntrl:]]') then
    raise exception 'idempotency key must be 1 to 200 printable characters' using errcode = '22023';
  end if;

  for v_item in select value from jsonb_array_elements(items) loop
    v_where := 'items[' || v_index || ']';
    if jsonb_typeof(v_item) <> 'object' then
      raise exception '% must be a JSON object like {"task_name": "..."}', v_where
        using errcode = '22023';
    end if;
    if exists (select 1 from jsonb_object_keys(v_item) k where k not in ('task_name', 'payload')) then
      raise exception '% has unknown field(s); a job is {task_name, payload}', v_where
        using errcode = '22023';
    end if;
    if jsonb_typeof(v_item -> 'task_name') is distinct from 'string' then
      raise exception '%.task_name is required and must be a string', v_where using errcode = '22023';
    end if;
    v_name := btrim(v_item ->> 'task_name');
    if v_name = '' then
      raise exception '%.task_name is required and may not be blank', v_where using errcode = '22023';
    end if;
    if char_length(v_name) > 200 then
      raise exception '%.task_name is % characters long; the limit is 200', v_where, char_length(v_name)
        using errcode = '22023';
    end if;
    if v_name ~ '[[:cntrl:]]' then
      raise exception '%.task_name may not contain control characters', v_where using errcode = '22023';
    end if;
    v_payload := v_item -> 'payload';
    if v_payload is null or jsonb_typeof(v_payload) = 'null' then
      v_payload := '{}'::jsonb;
    end if;
    if jsonb_typeof(v_payload) <> 'object' then
      raise exception '%.payload must be a JSON object, not %', v_where, jsonb_typeof(v_payload)
        using errcode = '22023';
    end if;
    -- As deep as the functions' parser allows, counted from the payload as submit_job does.
    if jsonb_path_exists(v_payload, 'strict $.**{65 to last}') then
      raise exception '%.payload nests deeper than 64 levels', v_where using errcode = '22023';
    end if;
    if octet_length(v_payload::text) >= 65536 then
      raise exception '%.payload is % bytes as JSON; the limit is 65535', v_where,
        octet_length(v_payload::text) using errcode = '22023';
    end if;
    v_names := v_names || v_name;
    v_payloads := v_payloads || v_payload;
    v_job_ids := v_job_ids || gen_random_uuid();
    v_index := v_index + 1;
  end loop;

  if submit_jobs.idempotency_key is not null then
    -- The same lock and table as submit_job: a key names one request, single or batch.
    if not pg_try_advisory_xact_lock(
      hashtext('supajobs.idempotency_key'), hashtext(submit_jobs.idempotency_key)
    ) then
      raise exception 'a request with this Idempotency-Key is still being processed; retry shortly'
        using errcode = 'SJ409';
    end if;
    v_fingerprint := sha256(convert_to(jsonb_build_object('items', (
      select jsonb_agg(jsonb_build_object('task_name', n, 'payload', p) order by i)
      from unnest(v_names, v_payloads) with ordinality as u(n, p, i)))::text, 'UTF8'));

    select k.job_id, k.job_ids, k.fingerprint into v_seen_one, v_seen_ids, v_seen
    from private.idempotency_keys k
    where k.key = submit_jobs.idempotency_key and k.expires_at > now();
    if found then
      if v_seen = v_fingerprint then
        return v_seen_ids;  -- a retried batch: the jobs the first one created
      end if;
      raise exception 'this Idempotency-Key was first used with a different request'
        using errcode = 'SJ422';
    end if;

    delete from private.idempotency_keys k
    where k.key = submit_jobs.idempotency_key
       or k.key in (select e.key from private.idempotency_keys e
                    where e.expires_at <= now()
                    order by e.expires_at limit 20
                    for update skip locked);
  end if;

  -- One statement for all messages. Its msg_ids come from the queue's sequence row by row in
  -- unnest's order, so sorted they line up with the items.
  select array_agg(m order by m) into v_msg_ids
  from pgmq.send_batch('work_queue', (
    select array_agg(jsonb_build_object('job_id', j, 'task_name', n) order by i)
    from unnest(v_job_ids, v_names) with ordinality as u(j, n, i))) as m;

  insert into public.job_results (job_id, task_name, payload, msg_id, idempotency_key)
  select j, n, p, m, submit_jobs.idempotency_key
  from unnest(v_job_ids, v_names, v_payloads, v_msg_ids) as u(j, n, p, m);

  if submit_jobs.idempotency_key is not null then
    insert into private.idempotency_keys (key, fingerprint, job_id, job_ids)
    values (submit_jobs.idempotency_key, v_fingerprint, v_job_ids[1], v_job_ids);
  end if;
  return v_job_ids;
end
$$;

revoke all on function public.submit_jobs(jsonb, text) from public, anon, authenticated;
grant execute on function public.submit_jobs(jsonb, text) to service_role;
