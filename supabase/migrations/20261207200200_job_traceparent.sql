-- Issue 23: one trace per job. The job's W3C trace context, stored by submit_job and
-- submit_jobs from the setting supajobs.traceparent that the submit function sets for the
-- submitting statement (neither function changes). A stable default: existing rows get null
-- without a rewrite of the table.
alter table public.job_results
  add column if not exists traceparent text
  default nullif(current_setting('supajobs.traceparent', true), '');
comment on column public.job_results.traceparent is
  'The job''s W3C trace context, from the submit request or its submit span (functions/tracing.py).';
