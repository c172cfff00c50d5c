-- The ceiling of concurrently draining workers (private.settings 'max_workers', 5 when unset:
-- process_job's reserved concurrency in serverless.yml). Wake-ups are sent only while fewer
-- workers than this hold the queue.
-- PL/pgSQL to be planned once a session (see private.default_kind): it is read on every submit.
create or replace function private.max_workers() returns integer
language plpgsql stable
security definer
set search_path = pg_catalog
as $$
begin
  return coalesce((select greatest(1, s.value::integer) from private.settings s
                   where s.name = 'max_workers'), 5);
end
$$;
revoke all on function private.max_workers() from public, anon, authenticated;
