#!/bin/bash
# Regenerates the flow-control migration (issue 22) from the schema files it restates: run it
# after the schema files change (for example after merging main), with the file name as $1.
cd "$(dirname "$0")/../supabase/schema"
out=../migrations/${1:-20261207400010_flow_control.sql}
{
cat <<'HDR'
-- Flow control (issue 22): dedup and debounce, per-key concurrency limits, fair shares between
-- owners, priority with ageing, a rate limit per kind; and schedules (cron, run by the sweep). Restates the schema folder's new and
-- changed files: task_kinds.flow, job_results' flow columns, private.flow_* tables and
-- functions, submit_job_flow, job_wait_reason, the flow_release trigger, and the one check each
-- of submit_job, submit_jobs, retry_job, sweep and publish_kinds gained.
alter table public.task_kinds
  add column if not exists flow jsonb not null default '{}'::jsonb
    constraint task_kinds_flow_check check (jsonb_typeof(flow) = 'object');
alter table public.job_results
  add column if not exists dedup_key text,
  add column if not exists priority integer,
  add column if not exists concurrency_key text,
  add column if not exists concurrency_limit integer,
  add column if not exists flow_controlled boolean not null default false,
  add column if not exists schedule_id uuid;
create unique index if not exists job_results_one_unfinished_dedup
  on public.job_results (dedup_key, coalesce(owner_id, '00000000-0000-0000-0000-000000000000'::uuid))
  where dedup_key is not null and status in ('pending', 'scheduled', 'running');

HDR
for f in 10_tables/70_flow.sql 10_tables/80_job_schedules.sql 20_functions/50_sweep.sql 20_functions/63_submit_job.sql \
         20_functions/64_submit_jobs.sql 20_functions/66_retry_job.sql 20_functions/67_publish_kinds.sql \
         20_functions/70_flow_admit.sql 20_functions/71_flow_enqueue.sql 20_functions/72_submit_job_flow.sql \
         20_functions/73_flow_sweep.sql 20_functions/74_cron_next.sql 20_functions/75_schedules.sql 30_triggers/50_flow_release.sql $EXTRA; do
  echo "-- ${f}"
  cat "$f"
  echo
done
} > $out
