-- The sweep as a Supabase Cron job, every 2 seconds, where pg_cron serves this database (it
-- does on hosted projects once the Cron integration is on; there `create extension pg_cron`
-- is the migrating role's to run). A pg_cron before 1.5 knows only whole minutes: there a job
-- each minute sweeps every 2 seconds for the minute. Elsewhere the local stack's sweeper calls
-- the same SQL.
do $$
begin
  if not exists (select from pg_extension where extname = 'pg_cron')
     and exists (select from pg_available_extensions where name = 'pg_cron')
     and current_setting('cron.database_name', true) = current_database() then
    create extension pg_cron;
  end if;
  if exists (select from pg_extension where extname = 'pg_cron') then
    begin
      perform cron.schedule('supajobs-sweep', '2 seconds', 'select private.sweep()');
    exception when others then
      perform cron.schedule('supajobs-sweep', '* * * * *', 'call private.sweep_for(58)');
    end;
  end if;
end
$$;
