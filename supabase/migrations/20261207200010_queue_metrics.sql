-- Issue 23: the queue's metrics in one call (public.queue_metrics, for GET /stats and the
-- dashboard) and the partial indexes that keep it cheap on a table of a million finished jobs.

-- For the operators' views (20_functions/80_queue_metrics.sql, the failures list, bulk
-- retry): partial, so each holds only what those read — the unfinished jobs, the jobs by the
-- time they ended, the failed ones — and a job enters each at most once a transition.
create index if not exists job_results_unfinished on public.job_results (kind, status)
  include (created_at, run_at, started_at)
  where status in ('pending', 'scheduled', 'running');
create index if not exists job_results_finished on public.job_results (finished_at)
  include (kind, status, created_at, started_at)
  where finished_at is not null;

-- The queue's health in one call, for GET /stats, `supajobs stats` and the dashboard: per kind
-- and overall, over the last p_window_s seconds:
--   depth        jobs pending, scheduled and running now (the indexes below make this a scan
--                of the unfinished jobs only, never of the finished ones);
--   oldest_waiting_s  how long the longest-waiting job that could run now has waited (pending,
--                or scheduled and due), from its creation or its start time;
--   starts / finishes per minute  attempts whose latest start, and jobs whose end, fell in
--                the window (a job retried within the window counts its latest start once);
--   failure_rate failed / (completed + failed) of the jobs finished in the window;
--   wait_s / run_s p50 and p95: created → started and started → finished of those jobs;
--   wake_ups     wake-ups sent and taken in the window (private.wake_ups keeps ten minutes).
-- series: the window cut into p_buckets (every one, empty ones with zeros), with the finishes
-- by status and the percentiles of each, so a chart has history from its first poll.
-- Only finished jobs of the window are read (job_results_finished), so its cost follows the
-- window's throughput, not the table's size (bench/metrics_query.py measures it).
create or replace function public.queue_metrics(p_window_s integer default 300,
                                                p_buckets integer default 30)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, public
as $$
declare
  v_now timestamptz := now();
  v_since timestamptz;
  v_bucket_s double precision;
  v_minutes double precision;
  v_kinds jsonb;
  v_series jsonb;
  v_wake jsonb;
begin
  if p_window_s is null or p_window_s < 10 or p_window_s > 86400 then
    raise exception using errcode = '22023',
      message = 'the window must be between 10 and 86400 seconds';
  end if;
  if p_buckets is null or p_buckets < 1 or p_buckets > 360 then
    raise exception using errcode = '22023', message = 'buckets must be between 1 and 360';
  end if;
  v_since := v_now - make_interval(secs => p_window_s);
  v_bucket_s := p_window_s::double precision / p_buckets;
  v_minutes := p_window_s / 60.0;

  with active as (
    select j.kind, j.status, j.started_at,
           case when j.status = 'pending' or (j.status = 'scheduled' and j.run_at <= v_now)
                then coalesce(j.run_at, j.created_at) end as waiting_since
    from public.job_results j
    where j.status in ('pending', 'scheduled', 'running')
  ),
  finished as (
    select j.kind, j.status, j.started_at,
           extract(epoch from j.started_at - j.created_at) as wait_s,
           extract(epoch from j.finished_at - j.started_at) as run_s
    from public.job_results j
    where j.finished_at >= v_since and j.finished_at is not null
  ),
  depth as (
    select coalesce(a.kind, '') as kind,
           count(*) filter (where a.status = 'pending') as pending,
           count(*) filter (where a.status = 'scheduled') as scheduled,
           count(*) filter (where a.status = 'running') as running,
           count(*) filter (where a.status = 'running' and a.started_at >= v_since) as started,
           extract(epoch from v_now - min(a.waiting_since)) as oldest_waiting_s
    from active a
    group by grouping sets ((a.kind), ())
  ),
  outcome as (
    select coalesce(f.kind, '') as kind,
           count(*) filter (where f.status = 'completed') as completed,
           count(*) filter (where f.status = 'failed') as failed,
           count(*) filter (where f.status = 'cancelled') as cancelled,
           count(*) filter (where f.started_at >= v_since) as started,
           percentile_cont(0.5) within group (order by f.wait_s) as wait_p50,
           percentile_cont(0.95) within group (order by f.wait_s) as wait_p95,
           percentile_cont(0.5) within group (order by f.run_s) as run_p50,
           percentile_cont(0.95) within group (order by f.run_s) as run_p95
    from finished f
    group by grouping sets ((f.kind), ())
  ),
  merged as (
    select coalesce(d.kind, o.kind) as kind,
           coalesce(d.pending, 0) as pending, coalesce(d.scheduled, 0) as scheduled,
           coalesce(d.running, 0) as running, d.oldest_waiting_s,
           coalesce(o.completed, 0) as completed, coalesce(o.failed, 0) as failed,
           coalesce(o.cancelled, 0) as cancelled,
           coalesce(d.started, 0) + coalesce(o.started, 0) as started,
           o.wait_p50, o.wait_p95, o.run_p50, o.run_p95
    from depth d full join outcome o on d.kind = o.kind
  )
  select jsonb_object_agg(m.kind, jsonb_build_object(
           'depth', jsonb_build_object('pending', m.pending, 'scheduled', m.scheduled,
                                       'running', m.running),
           'oldest_waiting_s', round(m.oldest_waiting_s::numeric, 3),
           'finished', jsonb_build_object('completed', m.completed, 'failed', m.failed,
                                          'cancelled', m.cancelled),
           'starts_per_min', round((m.started / v_minutes)::numeric, 2),
           'finishes_per_min',
             round(((m.completed + m.failed + m.cancelled) / v_minutes)::numeric, 2),
           'failure_rate', case when m.completed + m.failed > 0
             then round((m.failed::numeric / (m.completed + m.failed)), 4) end,
           'wait_s', jsonb_build_object('p50', round(m.wait_p50::numeric, 3),
                                        'p95', round(m.wait_p95::numeric, 3)),
           'run_s', jsonb_build_object('p50', round(m.run_p50::numeric, 3),
                                       'p95', round(m.run_p95::numeric, 3))))
  into v_kinds
  from merged m;

  select coalesce(jsonb_agg(jsonb_build_object(
           'at', v_since + make_interval(secs => (b.bucket + 1) * v_bucket_s),
           'completed', coalesce(s.completed, 0), 'failed', coalesce(s.failed, 0),
           'cancelled', coalesce(s.cancelled, 0),
           'wait_s', jsonb_build_object('p50', round(s.wait_p50::numeric, 3),
                                        'p95', round(s.wait_p95::numeric, 3)),
           'run_s', jsonb_build_object('p50', round(s.run_p50::numeric, 3),
                                       'p95', round(s.run_p95::numeric, 3)))
         order by b.bucket), '[]'::jsonb)
  into v_series
  from generate_series(0, p_buckets - 1) b (bucket)
  left join (
    select least(floor(extract(epoch from j.finished_at - v_since) / v_bucket_s)::integer,
                 p_buckets - 1) as bucket,
           count(*) filter (where j.status = 'completed') as completed,
           count(*) filter (where j.status = 'failed') as failed,
           count(*) filter (where j.status = 'cancelled') as cancelled,
           percentile_cont(0.5) within group (order by extract(epoch from j.started_at - j.created_at)) as wait_p50,
           percentile_cont(0.95) within group (order by extract(epoch from j.started_at - j.created_at)) as wait_p95,
           percentile_cont(0.5) within group (order by extract(epoch from j.finished_at - j.started_at)) as run_p50,
           percentile_cont(0.95) within group (order by extract(epoch from j.finished_at - j.started_at)) as run_p95
    from public.job_results j
    where j.finished_at >= v_since and j.finished_at is not null
    group by 1
  ) s on s.bucket = b.bucket;

  select jsonb_build_object('sent', count(*), 'taken', count(w.taken_at),
                            'kept_s', least(p_window_s, 600))
  into v_wake
  from private.wake_ups w
  where w.sent_at >= v_since;

  v_kinds := coalesce(v_kinds, '{}'::jsonb);
  return jsonb_build_object(
    'at', v_now,
    'window_s', p_window_s,
    'overall', coalesce(v_kinds -> '', jsonb_build_object(
      'depth', jsonb_build_object('pending', 0, 'scheduled', 0, 'running', 0),
      'oldest_waiting_s', null,
      'finished', jsonb_build_object('completed', 0, 'failed', 0, 'cancelled', 0),
      'starts_per_min', 0, 'finishes_per_min', 0, 'failure_rate', null,
      'wait_s', jsonb_build_object('p50', null, 'p95', null),
      'run_s', jsonb_build_object('p50', null, 'p95', null))),
    'kinds', v_kinds - '',
    'wake_ups', v_wake,
    'series', v_series);
end
$$;
revoke all on function public.queue_metrics(integer, integer) from public, anon, authenticated;
grant execute on function public.queue_metrics(integer, integer) to service_role;
