-- The kind a job gets when its submitter names none (task_kinds.is_default).
create or replace function private.default_kind() returns text
language sql stable
set search_path = pg_catalog
as $$ select k.kind from public.task_kinds k where k.is_default $$;
revoke all on function private.default_kind() from public, anon, authenticated;
