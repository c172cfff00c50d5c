-- What supabase/postgres's pgmq after-create script (ansible/files/
-- postgresql_extension_custom_scripts/pgmq/after-create.sql) does once supabase_admin has created
-- the extension for postgres: every member of pgmq is handed to postgres. The schema itself keeps
-- the owner it had: postgres when postgres created it first, supabase_admin when CREATE EXTENSION
-- created it (pgmq's control file declares `schema = pgmq`). Here pgmq comes from the `pgmq`
-- package's SQL, not an extension, so its members are simply the objects in the schema.
do $$
declare
  r record;
begin
  for r in
    select c.oid, c.relkind from pg_class c
    where c.relnamespace = 'pgmq'::regnamespace
      and c.relkind in ('r', 'p', 'v', 'm', 'c', 'S')
      and not exists (  -- a sequence owned by a table follows its table
        select 1 from pg_depend d
        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i'))
  loop
    if r.relkind = 'c' then
      execute format('alter type %s owner to postgres', r.oid::regclass);
    elsif r.relkind = 'S' then
      execute format('alter sequence %s owner to postgres', r.oid::regclass);
    else
      execute format('alter table %s owner to postgres', r.oid::regclass);
    end if;
  end loop;
  for r in select p.oid from pg_proc p where p.pronamespace = 'pgmq'::regnamespace loop
    execute format('alter routine %s owner to postgres', r.oid::regprocedure);
  end loop;
  for r in
    select t.oid from pg_type t
    where t.typnamespace = 'pgmq'::regnamespace and t.typtype in ('e', 'd', 'b', 'r')
      and t.typelem = 0
  loop
    execute format('alter type %s owner to postgres', r.oid::regtype);
  end loop;
end
$$;
