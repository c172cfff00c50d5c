-- Schedules through the API: each acts as the caller (auth.uid(), put in the transaction by
-- the API for a signed-in user; null for the public demo), on that caller's schedules only.

-- A new schedule: its name (unique per owner), a five-field cron expression (UTC), and the job
-- each run submits (submit_job's task_name, kind and payload, checked now as at each run).
-- Errors as submit_job's: SQLSTATE 22023 with the field in the error's column; 23505 for a
-- name already taken.
create or replace function public.create_schedule(
  name text, cron text, task_name text, kind text default null, payload jsonb default '{}'::jsonb
) returns uuid
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_kind    text := coalesce(create_schedule.kind, private.default_kind());
  v_problem text[] := private.new_job_problem(create_schedule.task_name, create_schedule.payload);
  v_next    timestamptz;
  v_id      uuid;
begin
  if create_schedule.name is null
     or create_schedule.name !~ '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$' then
    raise exception 'name must be 1 to 100 letters, digits, spaces, dots, dashes or underscores'
      using errcode = '22023', column = '/name';
  end if;
  v_next := private.cron_next(create_schedule.cron, clock_timestamp());
  if v_next is null then
    raise exception 'cron must be five fields (minute hour day month weekday, UTC) naming a time'
      using errcode = '22023', column = '/cron';
  end if;
  if v_problem is not null then
    raise exception '%', v_problem[2] using errcode = '22023', column = '/' || v_problem[1];
  end if;
  if not exists (select from public.task_kinds k where k.kind = v_kind) then
    raise exception 'kind % is not a known task kind', coalesce(quote_literal(v_kind), 'null')
      using errcode = '22023', column = '/kind';
  end if;
  insert into private.job_schedules (name, owner_id, cron, task_name, kind, payload, next_run_at)
  values (create_schedule.name, auth.uid(), btrim(create_schedule.cron),
          btrim(create_schedule.task_name), v_kind,
          coalesce(create_schedule.payload, '{}'::jsonb), v_next)
  on conflict do nothing
  returning schedule_id into v_id;
  if v_id is null then
    raise exception 'a schedule named % exists already', quote_literal(create_schedule.name)
      using errcode = '23505', column = '/name';
  end if;
  return v_id;
end
$$;
revoke all on function public.create_schedule(text, text, text, text, jsonb) from public, anon, authenticated;
grant execute on function public.create_schedule(text, text, text, text, jsonb) to service_role;

-- The caller's schedules, by name.
create or replace function public.list_schedules()
returns table (schedule_id uuid, name text, cron text, task_name text, kind text, payload jsonb,
               paused boolean, next_run_at timestamptz, last_run_at timestamptz,
               last_job_id uuid, created_at timestamptz)
language sql
stable
security definer
set search_path = pg_catalog
as $$
  select s.schedule_id, s.name, s.cron, s.task_name, s.kind, s.payload, s.paused,
         s.next_run_at, s.last_run_at, s.last_job_id, s.created_at
  from private.job_schedules s
  where s.owner_id is not distinct from auth.uid()
  order by s.name
$$;
revoke all on function public.list_schedules() from public, anon, authenticated;
grant execute on function public.list_schedules() to service_role;

-- Pauses or resumes one of the caller's schedules; resumed, its next run is the next due time
-- from now (the runs it missed while paused are not made up). False: no such schedule.
create or replace function public.pause_schedule(schedule_id uuid, paused boolean)
returns boolean
language sql
security definer
set search_path = pg_catalog
as $$
  with changed as (
    update private.job_schedules s
    set paused = pause_schedule.paused,
        next_run_at = case when s.paused and not pause_schedule.paused
                           then private.cron_next(s.cron, clock_timestamp()) else s.next_run_at end
    where s.schedule_id = pause_schedule.schedule_id
      and s.owner_id is not distinct from auth.uid()
    returning 1
  )
  select exists (select from changed)
$$;
revoke all on function public.pause_schedule(uuid, boolean) from public, anon, authenticated;
grant execute on function public.pause_schedule(uuid, boolean) to service_role;

-- Deletes one of the caller's schedules (its jobs stay). False: no such schedule.
create or replace function public.delete_schedule(schedule_id uuid) returns boolean
language sql
security definer
set search_path = pg_catalog
as $$
  with gone as (
    delete from private.job_schedules s
    where s.schedule_id = delete_schedule.schedule_id
      and s.owner_id is not distinct from auth.uid()
    returning 1
  )
  select exists (select from gone)
$$;
revoke all on function public.delete_schedule(uuid) from public, anon, authenticated;
grant execute on function public.delete_schedule(uuid) to service_role;

-- The sweep's part: every schedule that is due submits one ordinary job as its owner, and its
-- next run is the next due time after now, so runs missed while nothing swept (the database
-- down) run once, not once per missed slot. A run whose job is refused (its kind retired, its
-- payload no longer valid) is skipped; the schedule stays. Schedules another sweep is running
-- are skipped (SKIP LOCKED). Returns the jobs submitted.
create or replace function private.run_schedules() returns integer
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_due    record;
  v_job_id uuid;
  v_count  integer := 0;
begin
  for v_due in
    select s.* from private.job_schedules s
    where not s.paused and s.next_run_at <= clock_timestamp()
    order by s.next_run_at
    for update skip locked
  loop
    perform set_config('request.jwt.claim.sub', coalesce(v_due.owner_id::text, ''), true);
    begin
      v_job_id := public.submit_job(v_due.task_name, v_due.payload, null, null, null, v_due.kind);
      update public.job_results j set schedule_id = v_due.schedule_id where j.job_id = v_job_id;
      v_count := v_count + 1;
    exception when sqlstate '22023' or foreign_key_violation then
      v_job_id := null;
    end;
    perform set_config('request.jwt.claim.sub', '', true);
    update private.job_schedules s
    set last_run_at = clock_timestamp(), last_job_id = coalesce(v_job_id, s.last_job_id),
        next_run_at = coalesce(private.cron_next(s.cron, clock_timestamp()), 'infinity')
    where s.schedule_id = v_due.schedule_id;
  end loop;
  return v_count;
end
$$;
revoke all on function private.run_schedules() from public, anon, authenticated;
