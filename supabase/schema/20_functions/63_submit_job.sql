-- submit_job: the one way a single job enters the system. The row and its queue message are
-- written in the caller's transaction, so either both exist or neither does. Starts at once,
-- or at run_at / after delay_seconds ('scheduled'). A caller mistake raises SQLSTATE 22023
-- with the field (a JSON pointer) in the error's column; SJ409 / SJ422 for idempotency keys.
create or replace function public.submit_job(
  task_name text,
  payload jsonb default '{}'::jsonb,
  idempotency_key text default null,
  run_at timestamptz default null,
  delay_seconds double precision default null,
  kind text default null
) returns uuid
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_name        text := btrim(task_name);
  v_kind        text := coalesce(submit_job.kind, private.default_kind());
  v_payload     jsonb := coalesce(submit_job.payload, '{}'::jsonb);
  v_problem     text[] := private.new_job_problem(submit_job.task_name, submit_job.payload);
  v_job_id      uuid;
  v_msg_id      bigint;
  v_fingerprint bytea;
  v_request     jsonb;
  v_run_at      timestamptz;
  v_replayed    uuid[];
  v_flow        boolean;
begin
  if v_problem is not null then
    raise exception '%', v_problem[2] using errcode = '22023', column = '/' || v_problem[1];
  end if;
  -- Flow control's one check on the plain path: the kind's settings (task_kinds.flow) and
  -- the submitter's (submit_job_flow sets supajobs.flow_job).
  select k.flow <> '{}'::jsonb or coalesce(current_setting('supajobs.flow_job', true), '') <> ''
    into v_flow from public.task_kinds k where k.kind = v_kind;
  if not found then
    raise exception 'kind % is not a known task kind', coalesce(quote_literal(v_kind), 'null')
      using errcode = '22023', column = '/kind';
  end if;
  if submit_job.run_at is not null and submit_job.delay_seconds is not null then
    raise exception 'give run_at or delay_seconds, not both' using errcode = '22023', column = '/run_at';
  end if;
  if submit_job.delay_seconds is not null
     and not (submit_job.delay_seconds between 0 and 2592000) then
    raise exception 'delay_seconds must be from 0 to 2592000 (30 days)'
      using errcode = '22023', column = '/delay_seconds';
  end if;
  if submit_job.run_at is not null
     and (submit_job.run_at > now() + interval '30 days' or submit_job.run_at = 'infinity'
          or submit_job.run_at = '-infinity') then
    raise exception 'run_at must be at most 30 days ahead' using errcode = '22023', column = '/run_at';
  end if;
  v_run_at := coalesce(submit_job.run_at, now() + make_interval(secs => submit_job.delay_seconds));

  if submit_job.idempotency_key is not null then
    -- jsonb text is canonical (keys ordered, spacing fixed): the same request written
    -- differently has the same fingerprint. The start time is part of it only when given.
    v_request := jsonb_build_object('task_name', v_name, 'kind', v_kind, 'payload', v_payload);
    if submit_job.run_at is not null then
      v_request := v_request || jsonb_build_object('run_at', submit_job.run_at);
    elsif submit_job.delay_seconds is not null then
      v_request := v_request || jsonb_build_object('delay_seconds', submit_job.delay_seconds);
    end if;
    v_fingerprint := sha256(convert_to(v_request::text, 'UTF8'));
    v_replayed := private.claim_idempotency_key(submit_job.idempotency_key, v_fingerprint);
    if v_replayed is not null then
      return v_replayed[1];
    end if;
  end if;

  if v_flow then
    v_job_id := private.flow_create_job(v_name, v_kind, v_payload, v_run_at,
                                        submit_job.idempotency_key);
    if submit_job.idempotency_key is not null then
      insert into private.idempotency_keys (key, fingerprint, job_id)
      values (submit_job.idempotency_key, v_fingerprint, v_job_id);
    end if;
    return v_job_id;
  end if;

  -- The message first, then the job that names it: each row written once. The message is
  -- pgmq.send's insert written out: pgmq.send builds its statement with format() and plans it
  -- on every call, where this one's plan is cached; and a delayed message gets its exact due
  -- time in the same insert (pgmq.send takes whole seconds, which took a second write).
  -- A message due now fires the queue's wake-up trigger; a delayed one is the sweep's.
  v_job_id := gen_random_uuid();
  insert into pgmq.q_work_queue (vt, message)
  values (case when v_run_at > now() then v_run_at else clock_timestamp() end,
          jsonb_build_object('job_id', v_job_id))
  returning msg_id into v_msg_id;
  if v_run_at is not null and v_run_at > now() then
    insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key, status, run_at)
    values (v_job_id, v_name, v_kind, v_payload, v_msg_id, submit_job.idempotency_key,
            'scheduled', v_run_at);
  else
    insert into public.job_results (job_id, task_name, kind, payload, msg_id, idempotency_key)
    values (v_job_id, v_name, v_kind, v_payload, v_msg_id, submit_job.idempotency_key);
  end if;
  if submit_job.idempotency_key is not null then
    insert into private.idempotency_keys (key, fingerprint, job_id)
    values (submit_job.idempotency_key, v_fingerprint, v_job_id);
  end if;
  return v_job_id;
end
$$;
revoke all on function public.submit_job(text, jsonb, text, timestamptz, double precision, text)
  from public, anon, authenticated;
grant execute on function public.submit_job(text, jsonb, text, timestamptz, double precision, text)
  to service_role;
