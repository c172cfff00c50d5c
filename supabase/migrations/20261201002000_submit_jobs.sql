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
  v_where       text;
  v_names       text[];
  v_payloads    jsonb[];
  v_job_ids     uuid[];
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

  -- submit_job's checks, item by item in one statement (a loop costs a third of the time);
  -- the first bad item's problem, if any. CASE tries each check only when the ones before hold.
  select 'items[' || (e.i - 1) || ']' || e.problem into v_where
  from (
    select i, case
      when jsonb_typeof(item) <> 'object'
        then ' must be a JSON object like {"task_name": "..."}'
      when exists (select 1 from jsonb_object_keys(item) k where k not in ('task_name', 'payload'))
        then ' has unknown field(s); a job is {task_name, payload}'
      when jsonb_typeof(item -> 'task_name') is distinct from 'string'
        then '.task_name is required and must be a string'
      when btrim(item ->> 'task_name') = ''
        then '.task_name is required and may not be blank'
      when char_length(btrim(item ->> 'task_name')) > 200
        then '.task_name is ' || char_length(btrim(item ->> 'task_name'))
             || ' characters long; the limit is 200'
      when btrim(item ->> 'task_name') ~ '[[:cntrl:]]'
        then '.task_name may not contain control characters'
      when coalesce(jsonb_typeof(item -> 'payload'), 'null') not in ('object', 'null')
        then '.payload must be a JSON object, not ' || jsonb_typeof(item -> 'payload')
      -- As deep as the functions' parser allows, counted from the payload as submit_job does.
      when jsonb_typeof(item -> 'payload') = 'object'
           and jsonb_path_exists(item -> 'payload', 'strict $.**{65 to last}')
        then '.payload nests deeper than 64 levels'
      when octet_length((item -> 'payload')::text) >= 65536
        then '.payload is ' || octet_length((item -> 'payload')::text)
             || ' bytes as JSON; the limit is 65535'
    end as problem
    from jsonb_array_elements(items) with ordinality as a(item, i)
  ) e
  where e.problem is not null
  order by e.i
  limit 1;
  if v_where is not null then
    raise exception '%', v_where using errcode = '22023';
  end if;

  select array_agg(btrim(item ->> 'task_name') order by i),
         array_agg(case when jsonb_typeof(item -> 'payload') = 'object'
                        then item -> 'payload' else '{}'::jsonb end order by i),
         array_agg(gen_random_uuid() order by i)
    into v_names, v_payloads, v_job_ids
  from jsonb_array_elements(items) with ordinality as a(item, i);

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
