-- Realtime carries every change of a job to the page (postgres_changes on job_results).
do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime')
     and not exists (select 1 from pg_publication_tables
                     where pubname = 'supabase_realtime'
                       and schemaname = 'public' and tablename = 'job_results') then
    alter publication supabase_realtime add table public.job_results;
  end if;
end
$$;
