-- The concurrency key a new job counts against, from its kind's settings: the kind's
-- concurrency_key expression is 'kind' (one key for the kind), 'owner' (one per user; public
-- jobs share one) or 'payload.<field>' (one per value of that top-level payload field). Null
-- when the kind declares no concurrency_limit.
create or replace function private.flow_key(p_flow jsonb, p_owner uuid, p_payload jsonb)
returns text
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select case
    when p_flow ->> 'concurrency_limit' is null then null
    when coalesce(p_flow ->> 'concurrency_key', 'kind') = 'kind' then 'kind'
    when p_flow ->> 'concurrency_key' = 'owner' then 'owner:' || coalesce(p_owner::text, 'public')
    when p_flow ->> 'concurrency_key' like 'payload.%'
      then (p_flow ->> 'concurrency_key') || '='
           || coalesce(p_payload ->> substr(p_flow ->> 'concurrency_key', 9), '')
  end
$$;
revoke all on function private.flow_key(jsonb, uuid, jsonb) from public, anon, authenticated;

-- Puts jobs, already written with no message, in line to be admitted (private.flow_admit).
-- The caller holds the kinds' locks. One row per job in flow_waiting; each owner's waiting count.
create or replace function private.flow_enqueue(p_job_ids uuid[]) returns void
language sql
security definer
set search_path = pg_catalog
as $$
  with jobs as (
    select j.job_id, j.kind,
           case when coalesce((k.flow ->> 'fair')::boolean, true)
                then coalesce(j.owner_id::text, '') else '' end as fair_key,
           j.created_at - make_interval(secs => coalesce(j.priority, 0)
                 * coalesce((k.flow ->> 'priority_step_s')::double precision, 60)) as sort_at,
           case when j.status = 'scheduled' then j.run_at end as not_before,
           j.concurrency_key, j.concurrency_limit
    from public.job_results j join public.task_kinds k on k.kind = j.kind
    where j.job_id = any (p_job_ids)
  ), waiting as (
    insert into private.flow_waiting (job_id, kind, fair_key, sort_at, not_before, ckey, climit)
    select job_id, kind, fair_key, sort_at, not_before, concurrency_key, concurrency_limit from jobs
    returning kind, fair_key
  )
  insert into private.flow_owners as o (kind, fair_key, waiting)
  select w.kind, w.fair_key, count(*) from waiting w group by w.kind, w.fair_key
  on conflict (kind, fair_key) do update set waiting = o.waiting + excluded.waiting
$$;
revoke all on function private.flow_enqueue(uuid[]) from public, anon, authenticated;

-- Writes one new job for submit_job when its kind declares flow control or its submitter gave
-- flow settings (in the transaction's supajobs.flow_job, set by submit_job_flow). Arguments are
-- submit_job's, already checked. A job with only a dedup key takes the plain path (a message
-- now); any other waits for flow_admit, which this calls.
create or replace function private.flow_create_job(
  p_name text, p_kind text, p_payload jsonb, p_run_at timestamptz, p_idempotency_key text
) returns uuid
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_given    jsonb := coalesce(nullif(current_setting('supajobs.flow_job', true), ''), '{}')::jsonb;
  v_flow     jsonb;
  v_owner    uuid := auth.uid();
  v_priority integer := (v_given ->> 'priority')::integer;
  v_climit   integer;
  v_ckey     text;
  v_delayed  boolean := p_run_at is not null and p_run_at > now();
  v_job_id   uuid := gen_random_uuid();
  v_msg_id   bigint;
begin
  select k.flow into v_flow from public.task_kinds k where k.kind = p_kind;
  v_climit := coalesce((v_given ->> 'concurrency_limit')::integer,
                       (v_flow ->> 'concurrency_limit')::integer);
  v_ckey := coalesce(v_given ->> 'concurrency_key',
                     private.flow_key(v_flow || jsonb_build_object('concurrency_limit', v_climit),
                                      v_owner, p_payload));
  if v_ckey is not null and v_climit is null then
    raise exception 'concurrency_key needs a concurrency_limit (kind % declares none)', p_kind
      using errcode = '22023', column = '/concurrency_limit';
  end if;
  if v_flow = '{}'::jsonb and v_ckey is null and v_priority is null then
    if v_delayed then
      select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id),
                       ceil(extract(epoch from p_run_at - now()))::integer) into v_msg_id;
      update pgmq.q_work_queue set vt = p_run_at where msg_id = v_msg_id;
    else
      select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id)) into v_msg_id;
    end if;
    insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key,
                                    status, run_at, dedup_key)
    values (v_job_id, p_name, p_kind, p_payload, v_msg_id, p_idempotency_key,
            case when v_delayed then 'scheduled' else 'pending' end,
            case when v_delayed then p_run_at end, v_given ->> 'dedup_key');
    return v_job_id;
  end if;
  perform private.flow_lock(p_kind);
  insert into public.job_results (job_id, task_name, kind, payload, idempotency_key, status,
                                  run_at, dedup_key, priority, concurrency_key,
                                  concurrency_limit, flow_controlled)
  values (v_job_id, p_name, p_kind, p_payload, p_idempotency_key,
          case when v_delayed then 'scheduled' else 'pending' end,
          case when v_delayed then p_run_at end, v_given ->> 'dedup_key', v_priority, v_ckey,
          case when v_ckey is not null then v_climit end, true);
  perform private.flow_enqueue(array[v_job_id]);
  perform private.flow_admit(p_kind);
  return v_job_id;
end
$$;
revoke all on function private.flow_create_job(text, text, jsonb, timestamptz, text)
  from public, anon, authenticated;

-- submit_jobs' items when any is of a kind that declares flow control: the plain ones as
-- submit_jobs writes them (a message each), the others waiting for flow_admit. The kinds'
-- locks are taken in their order (private.flow_lock).
create or replace function private.flow_create_jobs(
  p_job_ids uuid[], p_names text[], p_kinds text[], p_payloads jsonb[], p_idempotency_key text
) returns void
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_kind  text;
  v_owner uuid := auth.uid();
begin
  perform private.flow_lock(f.kind)
  from (select distinct k.kind, hashtext(k.kind) as h from public.task_kinds k
        where k.kind = any (p_kinds) and k.flow <> '{}'::jsonb order by h) f;
  with items as (
    select u.j, u.n, u.k, u.p, u.i, k.flow
    from unnest(p_job_ids, p_names, p_kinds, p_payloads) with ordinality as u(j, n, k, p, i)
    join public.task_kinds k on k.kind = u.k
  ), plain as (
    select i.*, row_number() over (order by i.i) as r from items i where i.flow = '{}'::jsonb
  ), sent as (
    select m, row_number() over (order by m) as r
    from pgmq.send_batch('work_queue', (
      select array_agg(jsonb_build_object('job_id', p.j) order by p.i) from plain p)) as m
  )
  insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key,
                                  concurrency_key, concurrency_limit, flow_controlled)
  select i.j, i.n, i.k, i.p, s.m, p_idempotency_key,
         private.flow_key(i.flow, v_owner, i.p), (i.flow ->> 'concurrency_limit')::integer,
         i.flow <> '{}'::jsonb
  from items i
  left join plain p on p.i = i.i
  left join sent s on s.r = p.r;
  perform private.flow_enqueue(array(
    select u.j from unnest(p_job_ids, p_kinds) as u(j, k)
    join public.task_kinds k on k.kind = u.k where k.flow <> '{}'::jsonb));
  for v_kind in
    select f.kind from (select distinct k.kind, hashtext(k.kind) as h from public.task_kinds k
                        where k.kind = any (p_kinds) and k.flow <> '{}'::jsonb) f
    order by f.h
  loop
    perform private.flow_admit(v_kind);
  end loop;
end
$$;
revoke all on function private.flow_create_jobs(uuid[], text[], text[], jsonb[], text)
  from public, anon, authenticated;
