-- The sweep's part of flow control: admits what may start in every kind with jobs waiting
-- (delayed jobs come due, rate-limited jobs beyond the last admission's horizon). Every other
-- admission happens when something changes (a submit, a finish), so this only catches up.
create or replace function private.flow_sweep() returns integer
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_kind text;
  v_admitted integer := 0;
begin
  for v_kind in
    select k.kind from (select distinct o.kind from private.flow_owners o where o.waiting > 0) k
    order by hashtext(k.kind)
  loop
    v_admitted := v_admitted + private.flow_admit(v_kind);
  end loop;
  return v_admitted;
end
$$;
revoke all on function private.flow_sweep() from public, anon, authenticated;

-- Why a job has not started, for the page and the API: null when it is not waiting, else
-- {reason, message, ...}: 'concurrency' (running of limit for its key), 'max_running' (of the
-- kind), 'rate_limited' (until when), 'scheduled' (its start), 'queued' (its turn, with how many
-- of its owner's jobs go first) or 'admitted' (its message is in the queue).
create or replace function private.flow_wait_reason(job_id uuid) returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_job     record;
  v_wait    record;
  v_flow    jsonb;
  v_running bigint;
  v_starts  timestamptz;
begin
  select j.status, j.kind, j.run_at, j.flow_controlled, j.concurrency_key, j.concurrency_limit
    into v_job from public.job_results j where j.job_id = flow_wait_reason.job_id;
  if not found or v_job.status not in ('pending', 'scheduled') then
    return null;
  end if;
  select s.starts_at into v_starts from private.flow_slots s where s.job_id = flow_wait_reason.job_id;
  if found then
    if v_starts > clock_timestamp() then
      return jsonb_build_object('reason', 'rate_limited', 'until', v_starts,
        'message', 'rate limited until ' || to_char(v_starts at time zone 'UTC', 'HH24:MI:SS') || ' UTC');
    end if;
    return jsonb_build_object('reason', 'admitted', 'message', 'in the queue, waiting for a worker');
  end if;
  select w.* into v_wait from private.flow_waiting w where w.job_id = flow_wait_reason.job_id;
  if not found then
    if v_job.status = 'scheduled' then
      return jsonb_build_object('reason', 'scheduled', 'until', v_job.run_at,
        'message', 'scheduled for ' || to_char(v_job.run_at at time zone 'UTC', 'HH24:MI:SS') || ' UTC');
    end if;
    return jsonb_build_object('reason', 'queued', 'message', 'in the queue, waiting for a worker');
  end if;
  if v_wait.not_before > clock_timestamp() then
    return jsonb_build_object('reason', 'scheduled', 'until', v_wait.not_before,
      'message', 'scheduled for ' || to_char(v_wait.not_before at time zone 'UTC', 'HH24:MI:SS') || ' UTC');
  end if;
  select k.flow into v_flow from public.task_kinds k where k.kind = v_job.kind;
  if v_wait.ckey is not null then
    select count(*) into v_running from private.flow_slots s
    where s.kind = v_job.kind and s.ckey = v_wait.ckey;
    if v_running >= v_wait.climit then
      return jsonb_build_object('reason', 'concurrency', 'key', v_wait.ckey, 'running', v_running,
        'limit', v_wait.climit,
        'message', 'waiting: ' || v_running || ' of ' || v_wait.climit || ' running for '
                   || case when v_wait.ckey like 'owner:%' then 'this user'
                           when v_wait.ckey = 'kind' then 'this kind'
                           else v_wait.ckey end);
    end if;
  end if;
  if v_flow ? 'max_running' then
    select count(*) into v_running from private.flow_slots s where s.kind = v_job.kind;
    if v_running >= (v_flow ->> 'max_running')::bigint then
      return jsonb_build_object('reason', 'max_running', 'running', v_running,
        'limit', (v_flow ->> 'max_running')::integer,
        'message', 'waiting: ' || v_running || ' of ' || (v_flow ->> 'max_running') || ' running for this kind');
    end if;
  end if;
  select b.tat into v_starts from private.flow_buckets b where b.kind = v_job.kind;
  if v_starts > clock_timestamp() then
    return jsonb_build_object('reason', 'rate_limited', 'until', v_starts,
      'message', 'rate limited until ' || to_char(v_starts at time zone 'UTC', 'HH24:MI:SS') || ' UTC');
  end if;
  return jsonb_build_object('reason', 'queued', 'ahead', (
      select count(*) from private.flow_waiting w
      where w.kind = v_wait.kind and w.fair_key = v_wait.fair_key
        and (w.sort_at, w.job_id) < (v_wait.sort_at, v_wait.job_id)),
    'message', 'waiting its turn among its owner''s jobs');
end
$$;
revoke all on function private.flow_wait_reason(uuid) from public, anon, authenticated;

-- The API's view: flow_wait_reason, and for a job a schedule submitted, which one.
create or replace function public.job_wait_reason(job_id uuid) returns jsonb
language sql
stable
security definer
set search_path = pg_catalog
as $$
  select case when r.w is null or s.name is null then r.w
              else r.w || jsonb_build_object('schedule', s.name,
                                             'message', 'scheduled by ' || s.name || '; '
                                                        || (r.w ->> 'message'))
         end
  from (select private.flow_wait_reason(job_wait_reason.job_id) as w) r
  left join public.job_results j on j.job_id = job_wait_reason.job_id
  left join private.job_schedules s on s.schedule_id = j.schedule_id
$$;
revoke all on function public.job_wait_reason(uuid) from public, anon, authenticated;
grant execute on function public.job_wait_reason(uuid) to service_role;
