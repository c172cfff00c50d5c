-- The queue: one PGMQ queue, work_queue. A message is {"job_id": ...}; the job's row in
-- public.job_results says everything else.
select pgmq.create('work_queue')
where not exists (select 1 from pgmq.list_queues() where queue_name = 'work_queue');

-- The queue is the service role's business only: nothing in it is for the page. Only the schema's
-- owner can revoke, so this runs where the migrating role owns it (elsewhere REVOKE only warns).
do $$
begin
  if pg_has_role((select nspowner from pg_namespace where nspname = 'pgmq'), 'USAGE') then
    revoke all on schema pgmq from public, anon, authenticated;
  end if;
end
$$;
