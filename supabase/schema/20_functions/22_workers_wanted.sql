-- How many workers the visible backlog wants: one per p_batch_size visible first deliveries,
-- and one per visible redelivery (each runs alone), counted only as far as the ceiling could
-- use (so a deep queue costs no more to look at).
create or replace function private.workers_wanted(p_batch_size integer) returns integer
language sql stable
security definer
set search_path = pg_catalog
as $$
  select ((count(*) filter (where visible.read_ct = 0) + greatest(p_batch_size, 1) - 1)
          / greatest(p_batch_size, 1))::integer
         + (count(*) filter (where visible.read_ct > 0))::integer
  from (select q.read_ct from pgmq.q_work_queue q
        where q.vt <= clock_timestamp()
        limit private.max_workers() * greatest(p_batch_size, 1)) visible
$$;
revoke all on function private.workers_wanted(integer) from public, anon, authenticated;
