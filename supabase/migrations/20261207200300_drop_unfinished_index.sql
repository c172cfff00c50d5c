-- Issue 23: the metrics find the unfinished jobs through job_results_by_status; their own
-- partial index cost submit and claim one more index entry each (submit 0.78x in
-- bench/results/ISSUE23.md), more than the metrics save with it.
drop index if exists public.job_results_unfinished;
comment on index public.job_results_finished is
  'The jobs by the time they ended, for public.queue_metrics: a job enters it once, when it ends.';
