-- Retry in bulk: every failed (or, with p_status, cancelled) job that matches the filter runs
-- again, each exactly as public.retry_job does it, all in one transaction or none. Scoped like
-- retry_job's callers scope it: p_owner's jobs (null: the public demo jobs), or every owner's
-- with p_any_owner (an operator). The filter: p_kind; p_error, the first line of the error;
-- finished in [p_since, p_until); p_job_ids, when given, names the jobs, and every one must
-- match. p_expect, when given, is how many jobs the caller saw: another count means the set
-- changed since, and nothing is retried (SJ409); more than p_max is refused (22023), so one
-- call never holds ten thousand locks. Returns how many jobs were retried.
-- Locks: the jobs in job_id order, then each one's message (as retry_job).
create or replace function public.retry_jobs(
  p_owner uuid,
  p_any_owner boolean,
  p_status text default 'failed',
  p_kind text default null,
  p_error text default null,
  p_since timestamptz default null,
  p_until timestamptz default null,
  p_job_ids uuid[] default null,
  p_expect integer default null,
  p_max integer default 10000
) returns integer
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
  v_ids uuid[];
  v_named integer;
  v_job uuid;
begin
  if p_status is null or p_status not in ('failed', 'cancelled') then
    raise exception using errcode = '22023', column = '/status',
      message = 'status must be failed or cancelled';
  end if;
  select array_agg(j.job_id order by j.job_id) into v_ids
  from (
    select r.job_id from public.job_results r
    where r.status = p_status
      and (p_any_owner or r.owner_id is not distinct from p_owner)
      and (p_kind is null or r.kind = p_kind)
      and (p_error is null or split_part(coalesce(r.error, ''), E'\n', 1) = p_error)
      and (p_since is null or r.finished_at >= p_since)
      and (p_until is null or r.finished_at < p_until)
      and (p_job_ids is null or r.job_id = any (p_job_ids))
    order by r.job_id
    for update
  ) j;
  v_ids := coalesce(v_ids, '{}');
  if p_job_ids is not null then
    select count(distinct n) into v_named from unnest(p_job_ids) n;
    if v_named <> cardinality(v_ids) then
      raise exception using errcode = 'SJ409', column = '/job_ids',
        message = format('%s of the %s jobs named are not %s (or not yours); none was retried',
                         v_named - cardinality(v_ids), v_named, p_status);
    end if;
  end if;
  if p_expect is not null and p_expect <> cardinality(v_ids) then
    raise exception using errcode = 'SJ409', column = '/expect',
      message = format('%s jobs match now, not the %s expected; none was retried',
                       cardinality(v_ids), p_expect);
  end if;
  if cardinality(v_ids) > p_max then
    raise exception using errcode = '22023',
      message = format('%s jobs match, more than %s at once; narrow the filter (kind, error,'
                       ' since, until)', cardinality(v_ids), p_max);
  end if;
  foreach v_job in array v_ids loop
    perform public.retry_job(v_job);
  end loop;
  return cardinality(v_ids);
end
$$;
revoke all on function public.retry_jobs(uuid, boolean, text, text, text, timestamptz,
                                         timestamptz, uuid[], integer, integer)
  from public, anon, authenticated;
grant execute on function public.retry_jobs(uuid, boolean, text, text, text, timestamptz,
                                            timestamptz, uuid[], integer, integer)
  to service_role;
