-- submit_jobs(items, idempotency_key): many jobs in one transaction, all or nothing.
--
-- items is a JSON array of 1 to 1,000 objects {task_name, kind?, payload?}, each held to
-- submit_job's rules; an error names the item ("items[3].task_name ...", column
-- /items/3/task_name) with submit_job's SQLSTATEs. Set-based: one statement checks every item,
-- one sends every message (the queue trigger decides once for the batch),
-- one inserts every row. Returns the job ids in the items' order. An Idempotency-Key covers
-- the whole batch: its fingerprint is the SHA-256 of {"items": [...]}, never equal to a single
-- job's, and a replay answers with the same ids.
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
  v_problem     record;
  v_names       text[];
  v_kinds       text[];
  v_payloads    jsonb[];
  v_job_ids     uuid[];
  v_msg_ids     bigint[];
  v_fingerprint bytea;
  v_replayed    uuid[];
  v_default     text := private.default_kind();
begin
  if items is null or jsonb_typeof(items) <> 'array' then
    raise exception 'items must be a JSON array of jobs' using errcode = '22023', column = '/items';
  end if;
  v_count := jsonb_array_length(items);
  if v_count = 0 then
    raise exception 'items is empty; send 1 to 1000 jobs' using errcode = '22023', column = '/items';
  end if;
  if v_count > 1000 then
    raise exception 'items holds % jobs; the limit is 1000', v_count
      using errcode = '22023', column = '/items';
  end if;

  -- The first bad item's problem, if any, in one statement. The kinds are looked up with one
  -- join rather than a lookup per item, and an unknown field is found by removing the known
  -- ones (no set of keys built per item).
  select e.i - 1 as at, e.problem into v_problem
  from (
    select a.i, case
      when jsonb_typeof(a.item) <> 'object'
        then array['', ' must be a JSON object like {"task_name": "..."}']
      when a.item - 'task_name' - 'kind' - 'payload' <> '{}'::jsonb
        then array['', ' has unknown field(s); a job is {task_name, kind, payload}']
      when jsonb_typeof(a.item -> 'task_name') is distinct from 'string'
        then array['/task_name', '.task_name is required and must be a string']
      when coalesce(jsonb_typeof(a.item -> 'kind'), 'null') not in ('string', 'null')
        then array['/kind', '.kind must be a string']
      when k.kind is null
        then array['/kind', '.kind ' || coalesce(quote_literal(a.item ->> 'kind'), 'null')
                   || ' is not a known task kind']
      else (select array['/' || x.p[1], '.' || x.p[2]]
            from (select private.new_job_problem(a.item ->> 'task_name',
                                                 nullif(a.item -> 'payload', 'null'::jsonb)) as p) x)
    end as problem
    from jsonb_array_elements(items) with ordinality as a(item, i)
    left join public.task_kinds k
      on jsonb_typeof(a.item) = 'object'
     and k.kind = coalesce(a.item ->> 'kind', v_default)
    offset 0  -- each item's problem worked out once, not once per use below
  ) e
  where e.problem is not null and e.problem[2] is not null
  order by e.i
  limit 1;
  if found then
    raise exception 'items[%]%', v_problem.at, v_problem.problem[2]
      using errcode = '22023', column = '/items/' || v_problem.at || v_problem.problem[1];
  end if;

  select array_agg(btrim(item ->> 'task_name') order by i),
         array_agg(coalesce(item ->> 'kind', v_default) order by i),
         array_agg(case when jsonb_typeof(item -> 'payload') = 'object'
                        then item -> 'payload' else '{}'::jsonb end order by i),
         array_agg(gen_random_uuid() order by i)
    into v_names, v_kinds, v_payloads, v_job_ids
  from jsonb_array_elements(items) with ordinality as a(item, i);

  if submit_jobs.idempotency_key is not null then
    v_fingerprint := sha256(convert_to(jsonb_build_object('items', (
      select jsonb_agg(jsonb_build_object('task_name', n, 'kind', k, 'payload', p) order by i)
      from unnest(v_names, v_kinds, v_payloads) with ordinality as u(n, k, p, i)))::text, 'UTF8'));
    v_replayed := private.claim_idempotency_key(submit_jobs.idempotency_key, v_fingerprint);
    if v_replayed is not null then
      return v_replayed;
    end if;
  end if;

  -- Flow control's one check on the plain path: any kind of the batch that declares it.
  if exists (select from public.task_kinds k
             where k.kind = any (v_kinds) and k.flow <> '{}'::jsonb) then
    perform private.flow_create_jobs(v_job_ids, v_names, v_kinds, v_payloads,
                                     submit_jobs.idempotency_key);
    if submit_jobs.idempotency_key is not null then
      insert into private.idempotency_keys (key, fingerprint, job_id, job_ids)
      values (submit_jobs.idempotency_key, v_fingerprint, v_job_ids[1], v_job_ids);
    end if;
    return v_job_ids;
  end if;

  -- One statement for all messages: pgmq.send_batch's insert written out (pgmq.send_batch
  -- builds its statement with format() and plans it on every call; this plan is cached).
  -- Their msg_ids come from the queue's sequence row by row in unnest's order, so sorted
  -- they line up with the items.
  with sent as (
    insert into pgmq.q_work_queue (vt, message)
    select clock_timestamp(), jsonb_build_object('job_id', u.j)
    from unnest(v_job_ids) with ordinality as u(j, i)
    order by u.i
    returning msg_id
  )
  select array_agg(s.msg_id order by s.msg_id) into v_msg_ids from sent s;

  insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key)
  select j, n, k, p, m, submit_jobs.idempotency_key
  from unnest(v_job_ids, v_names, v_kinds, v_payloads, v_msg_ids) as u(j, n, k, p, m);

  if submit_jobs.idempotency_key is not null then
    insert into private.idempotency_keys (key, fingerprint, job_id, job_ids)
    values (submit_jobs.idempotency_key, v_fingerprint, v_job_ids[1], v_job_ids);
  end if;
  return v_job_ids;
end
$$;
revoke all on function public.submit_jobs(jsonb, text) from public, anon, authenticated;
grant execute on function public.submit_jobs(jsonb, text) to service_role;
