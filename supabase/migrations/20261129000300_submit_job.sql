-- submit_job: the one way a job enters the system. The row and its queue message are written in
-- the caller's transaction, so either both exist or neither does.
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
  v_name   text := btrim(task_name);
  v_job_id uuid;
  v_msg_id bigint;
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
  if octet_length(payload::text) >= 65536 then
    raise exception 'payload is % bytes as JSON; the limit is 65535', octet_length(payload::text)
      using errcode = '22023';
  end if;
  if idempotency_key is not null
     and (char_length(idempotency_key) not between 1 and 200 or idempotency_key ~ '[[:cntrl:]]') then
    raise exception 'idempotency key must be 1 to 200 printable characters' using errcode = '22023';
  end if;

  if submit_job.idempotency_key is null then
    -- The common path writes each row once: the message first, then the job that names it.
    v_job_id := gen_random_uuid();
    select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id, 'task_name', v_name))
      into v_msg_id;
    insert into public.job_results (job_id, task_name, payload, msg_id)
    values (v_job_id, v_name, submit_job.payload, v_msg_id);
    return v_job_id;
  end if;

  insert into public.job_results as j (task_name, payload, idempotency_key)
  values (v_name, submit_job.payload, submit_job.idempotency_key)
  on conflict (idempotency_key) do nothing
  returning j.job_id into v_job_id;

  if v_job_id is null then
    -- A retried submission: answer with the job the first one created.
    select j.job_id into v_job_id from public.job_results j
    where j.idempotency_key = submit_job.idempotency_key;
    return v_job_id;
  end if;

  select pgmq.send('work_queue', jsonb_build_object('job_id', v_job_id, 'task_name', v_name))
    into v_msg_id;
  update public.job_results set msg_id = v_msg_id where job_id = v_job_id;
  return v_job_id;
end
$$;

revoke all on function public.submit_job(text, jsonb, text) from public, anon, authenticated;
grant execute on function public.submit_job(text, jsonb, text) to service_role;
