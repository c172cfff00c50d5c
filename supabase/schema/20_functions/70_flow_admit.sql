-- A kind's flow lock (transaction-scoped advisory lock): every writer of the flow tables takes
-- it first. A transaction may come to need several kinds' locks (a worker finishing jobs of two
-- kinds in one batch, a batch submit, the sweep), so they are taken in one order, by the kind's
-- hash: a lock after one of a higher hash is only tried, never waited for, and so is one after
-- the wake-up protocol's locks (private.flow_wake defers admission's own). Returns whether the
-- lock is held; without it a writer's row writes are still safe (admission skips locked
-- rows), it just leaves admitting to the lock's holder, the next finish or the sweep.
create or replace function private.flow_lock(p_kind text) returns boolean
language plpgsql
set search_path = pg_catalog
as $$
declare
  v_key  integer := hashtext(p_kind);
  v_held bigint := nullif(current_setting('supajobs.flow_lock_max', true), '')::bigint;
  -- An enqueue earlier in the transaction may hold the wake-up protocol's locks, which come
  -- after every kind's lock: then a kind's lock is only tried.
  v_wake_locked boolean := current_setting('supajobs.wake_decided', true) = 'yes'
    and coalesce(current_setting('supajobs.flow_wake', true), '') <> 'pending';
begin
  if not v_wake_locked and (v_held is null or v_key >= v_held) then
    perform pg_advisory_xact_lock(hashtext('supajobs.flow'), v_key);
    perform set_config('supajobs.flow_lock_max', v_key::text, true);
    return true;
  end if;
  return pg_try_advisory_xact_lock(hashtext('supajobs.flow'), v_key);
end
$$;
revoke all on function private.flow_lock(text) from public, anon, authenticated;

-- Flow control's one decision: which waiting jobs of p_kind start now (their message is sent)
-- and when. Called under the kind's advisory lock (taken here; every writer of the flow tables
-- takes it first, so they never wait on each other in a cycle) at submit, when a slot frees
-- (private.flow_release), on a manual retry and by the sweep. Returns how many it admitted.
--
-- The kind's settings (task_kinds.flow, all optional):
--   max_running        jobs of the kind admitted and unfinished at once;
--   concurrency_limit  the same per concurrency key (the job's concurrency_key / _limit);
--   fair               (default true) round robin between owners: the owner served longest ago
--                      whose next job may start goes first;
--   priority_step_s    (default 60) the ageing rule: a job's place among its owner's jobs is
--                      its submit time moved earlier by priority × priority_step_s, so a job
--                      waits behind higher-priority jobs submitted at most
--                      (priority difference × step) seconds after it, never forever;
--   rate_limit, rate_period_s (default 1), rate_burst (default 1): a token bucket (GCRA).
--                      A job admitted without a token gets its message with a visibility at
--                      its token's time: the start is scheduled, not polled for, and the
--                      delayed message is woken for like any delayed job (the sweep). Jobs are
--                      scheduled at most RATE_HORIZON_S ahead; the next admission (a finish,
--                      a submit, the sweep) schedules further.
-- Locks: the kind's lock, then job rows SKIP LOCKED (a job being cancelled is passed over), then
-- the new message (the queue's trigger takes WAKE_LOCK shared as for any enqueue).
create or replace function private.flow_admit(p_kind text) returns integer
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  c_rate_horizon_s constant double precision := 5;
  v_flow         jsonb;
  v_max_running  integer;
  v_interval     double precision;
  v_tau          double precision;
  v_tat          timestamptz;
  v_base         timestamptz;
  v_now          timestamptz;
  v_start        timestamptz;
  v_owner        text;
  v_job_id       uuid;
  v_fair_key     text;
  v_ckey         text;
  v_skip         uuid[] := '{}';
  v_msg_id       bigint;
  v_admitted     integer := 0;
begin
  if not private.flow_lock(p_kind) then
    return 0;
  end if;
  select k.flow into v_flow from public.task_kinds k where k.kind = p_kind;
  v_flow := coalesce(v_flow, '{}'::jsonb);
  v_max_running := (v_flow ->> 'max_running')::integer;
  if v_flow ? 'rate_limit' then
    v_interval := coalesce((v_flow ->> 'rate_period_s')::double precision, 1)
                  / (v_flow ->> 'rate_limit')::double precision;
    v_tau := (coalesce((v_flow ->> 'rate_burst')::double precision, 1) - 1) * v_interval;
    select b.tat into v_tat from private.flow_buckets b where b.kind = p_kind;
  end if;
  loop
    v_now := clock_timestamp();
    if v_max_running is not null
       and (select count(*) from private.flow_slots s where s.kind = p_kind) >= v_max_running then
      exit;
    end if;
    v_start := v_now;
    if v_interval is not null then
      v_base := greatest(coalesce(v_tat, '-infinity'::timestamptz),
                         v_now - make_interval(secs => v_tau));
      v_start := greatest(v_base, v_now);
      exit when v_start > v_now + make_interval(secs => c_rate_horizon_s);
    end if;
    -- The next job: owners in round-robin order, each one's first job by sort_at whose
    -- concurrency key has a free slot. Blocked keys are passed over, never waited for.
    v_job_id := null;
    for v_owner in
      select o.fair_key from private.flow_owners o
      where o.kind = p_kind and o.waiting > 0
      order by o.served_at nulls first, o.fair_key
    loop
      select w.job_id, w.fair_key, w.ckey into v_job_id, v_fair_key, v_ckey
      from private.flow_waiting w
      where w.kind = p_kind and w.fair_key = v_owner
        and (w.not_before is null or w.not_before <= v_now)
        and w.job_id <> all (v_skip)
        and (w.ckey is null
             or (select count(*) from private.flow_slots s
                 where s.kind = p_kind and s.ckey = w.ckey) < w.climit)
      order by w.sort_at, w.job_id
      limit 1;
      exit when found;
    end loop;
    exit when v_job_id is null;
    perform 1 from public.job_results j where j.job_id = v_job_id for update skip locked;
    if not found then
      v_skip := v_skip || v_job_id;
      continue;
    end if;
    if v_start > v_now then
      select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id),
                       ceil(extract(epoch from v_start - v_now))::integer)
        into v_msg_id;
      update pgmq.q_work_queue q set vt = v_start where q.msg_id = v_msg_id;
    else
      -- The wake-up decision for this message waits for the commit (private.flow_wake): taken
      -- here, its locks would come before the next kind's lock this transaction may need.
      if coalesce(current_setting('supajobs.wake_decided', true), '') <> 'yes' then
        perform set_config('supajobs.wake_decided', 'yes', true);
        perform set_config('supajobs.flow_wake', 'pending', true);
      end if;
      select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id)) into v_msg_id;
    end if;
    update public.job_results j set msg_id = v_msg_id where j.job_id = v_job_id;
    delete from private.flow_waiting w where w.job_id = v_job_id;
    insert into private.flow_slots (job_id, kind, ckey, starts_at)
    values (v_job_id, p_kind, v_ckey, v_start);
    update private.flow_owners o set waiting = o.waiting - 1, served_at = clock_timestamp()
    where o.kind = p_kind and o.fair_key = v_fair_key;
    if v_interval is not null then
      v_tat := v_base + make_interval(secs => v_interval);
    end if;
    v_admitted := v_admitted + 1;
  end loop;
  if v_interval is not null and v_tat is not null then
    insert into private.flow_buckets as b (kind, tat) values (p_kind, v_tat)
    on conflict (kind) do update set tat = excluded.tat;
  end if;
  return v_admitted;
end
$$;
revoke all on function private.flow_admit(text) from public, anon, authenticated;
