-- A worker publishes its task registry at cold start: each kind added or updated (kinds not
-- given stay: another worker version may run them), and the default kind, when given, made the
-- only default. kinds is a JSON array of {kind, description, payload_schema, time_limit_s,
-- is_default, flow} (flow: the kind's flow-control settings, see private.flow_admit; none when
-- left out).
create or replace function private.publish_kinds(p_kinds jsonb) returns void
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  if exists (select from jsonb_to_recordset(p_kinds) as k(is_default boolean) where k.is_default) then
    update public.task_kinds t set is_default = false
    where t.is_default and t.kind not in (
      select k.kind from jsonb_to_recordset(p_kinds) as k(kind text, is_default boolean)
      where k.is_default);
  end if;
  insert into public.task_kinds as t (kind, description, payload_schema, time_limit_s, is_default,
                                      flow)
  select k.kind, k.description, k.payload_schema, k.time_limit_s, coalesce(k.is_default, false),
         coalesce(k.flow, '{}'::jsonb)
  from jsonb_to_recordset(p_kinds)
    as k(kind text, description text, payload_schema jsonb, time_limit_s double precision,
         is_default boolean, flow jsonb)
  on conflict (kind) do update
  set description = excluded.description, payload_schema = excluded.payload_schema,
      time_limit_s = excluded.time_limit_s, published_at = now(), flow = excluded.flow,
      is_default = excluded.is_default or (t.is_default and not exists (
        select from jsonb_to_recordset(p_kinds) as d(is_default boolean) where d.is_default));
end
$$;
revoke all on function private.publish_kinds(jsonb) from public, anon, authenticated;
