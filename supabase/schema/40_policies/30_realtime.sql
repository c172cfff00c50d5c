-- Who may join the jobs' Broadcast topics (private channels; see
-- 20_functions/70_broadcast_job_changes.sql). Realtime authorises a join by selecting a probe
-- row of the topic from realtime.messages under the subscriber's role and claims, and a send by
-- inserting one. The rules here follow the job's own: jobs:public to anyone with the anon key or
-- a session, jobs:user:<uid> only to that user, jobs:job:<job_id> to whoever may read the job
-- (public.job_results' policies decide, as for job_events). A topic name that is not one of
-- these shapes (a forged one) matches nothing; the uuid is cast only after the shape is checked.
-- They test the row's topic, not realtime.topic(): that setting is any session's to change.
-- The restrictive policies keep jobs:* closed to other permissive policies a project may add:
-- nobody reads a job topic but as above, and no client ever sends on one (only the database).
drop policy if exists "job topics are readable as their jobs are" on realtime.messages;
create policy "job topics are readable as their jobs are" on realtime.messages
  for select to anon, authenticated
  using (
    extension = 'broadcast'
    and (topic = 'jobs:public'
         or topic = 'jobs:user:' || (select auth.uid())::text
         or case when topic ~ '^jobs:job:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                 then exists (select 1 from public.job_results j
                              where j.job_id = substr(topic, 10)::uuid)
                 else false end));

drop policy if exists "job topics are read only as their jobs are" on realtime.messages;
create policy "job topics are read only as their jobs are" on realtime.messages
  as restrictive for select to anon, authenticated
  using (
    topic not like 'jobs:%'
    or (extension = 'broadcast'
        and (topic = 'jobs:public'
             or topic = 'jobs:user:' || (select auth.uid())::text
             or case when topic ~ '^jobs:job:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                     then exists (select 1 from public.job_results j
                                  where j.job_id = substr(topic, 10)::uuid)
                     else false end)));

drop policy if exists "clients never send on job topics" on realtime.messages;
create policy "clients never send on job topics" on realtime.messages
  as restrictive for insert to anon, authenticated
  with check (topic not like 'jobs:%');

drop policy if exists "clients never rewrite job topics" on realtime.messages;
create policy "clients never rewrite job topics" on realtime.messages
  as restrictive for update to anon, authenticated
  using (topic not like 'jobs:%') with check (topic not like 'jobs:%');
