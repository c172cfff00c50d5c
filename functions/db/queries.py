"""Every SQL statement the functions run, in one place. Values are always bound parameters."""

SUBMIT_JOB = """select public.submit_job(%(task_name)s, %(payload)s, %(idempotency_key)s,
    %(run_at)s, %(delay_seconds)s, %(kind)s)"""
SUBMIT_JOBS = "select public.submit_jobs(%(items)s, %(idempotency_key)s)"
# A job with flow settings of its own (priority, concurrency key, dedup key): the job, and
# whether it is an unfinished one with the same dedup key rather than a new one.
SUBMIT_JOB_FLOW = """select job_id, deduplicated from public.submit_job_flow(%(task_name)s,
    %(payload)s, %(idempotency_key)s, %(run_at)s, %(delay_seconds)s, %(kind)s, %(priority)s,
    %(concurrency_key)s, %(concurrency_limit)s, %(dedup_key)s, %(debounce_seconds)s)"""

# Who a transaction acts for and the trace its jobs join, for that transaction only
# (pooler-safe): job_results.owner_id defaults to auth.uid(), which reads the claims, and
# job_results.traceparent to the trace setting. An empty value is none (both read '' as null).
TRANSACTION_CONTEXT = """select set_config('request.jwt.claims', %(claims)s, true),
    set_config('request.jwt.claim.sub', %(sub)s, true),
    set_config('supajobs.traceparent', %(traceparent)s, true)"""

JOB_COLUMNS = """job_id, task_name, kind, payload, status, result, error, attempts, msg_id,
    created_at, started_at, finished_at, updated_at, owner_id, progress, progress_total,
    progress_message, run_at, cancel_requested_at, run, priority, concurrency_key, dedup_key"""

# The API connects as a role that bypasses RLS, so it scopes reads itself, as the policies do:
# public demo jobs (no owner) for anonymous callers, their own for signed-in ones.
GET_PUBLIC_JOB = f"""select {JOB_COLUMNS} from public.job_results
    where job_id = %(job_id)s and owner_id is null"""

GET_OWN_JOB = f"""select {JOB_COLUMNS} from public.job_results
    where job_id = %(job_id)s and owner_id = %(owner)s"""

NEWEST_PUBLIC_JOBS = f"""select {JOB_COLUMNS} from public.job_results
    where owner_id is null and (%(status)s::text is null or status = %(status)s)
    order by created_at desc, job_id limit %(limit)s"""

NEWEST_OWN_JOBS = f"""select {JOB_COLUMNS} from public.job_results
    where owner_id = %(owner)s and (%(status)s::text is null or status = %(status)s)
    order by created_at desc, job_id limit %(limit)s"""

LIST_KINDS = """select kind, description, payload_schema, time_limit_s, is_default, flow
    from public.task_kinds order by kind"""

# Why a job has not started (flow control's view: concurrency, rate limit, its start, its turn);
# null for a job that is not waiting. Scoped like the reads above.
JOB_WAIT_REASON = """select public.job_wait_reason(job_id) from public.job_results
    where job_id = %(job_id)s and owner_id is not distinct from %(owner)s::uuid"""

# Schedules, each as the caller (TRANSACTION_CONTEXT first for a signed-in one): the functions
# scope them to auth.uid() themselves.
CREATE_SCHEDULE = """select public.create_schedule(%(name)s, %(cron)s, %(task_name)s, %(kind)s,
    %(payload)s)"""
LIST_SCHEDULES = """select schedule_id, name, cron, task_name, kind, payload, paused,
    next_run_at, last_run_at, last_job_id, created_at from public.list_schedules()"""
PAUSE_SCHEDULE = "select public.pause_schedule(%(schedule_id)s, %(paused)s)"
DELETE_SCHEDULE = "select public.delete_schedule(%(schedule_id)s)"

PUBLISH_KINDS = "select private.publish_kinds(%(kinds)s)"

# Events, cancel and retry are scoped like the reads above: owner null means a public demo
# job. owner_id never changes after submit, so checking it in the same statement is enough.
JOB_EVENTS = """select e.event_id, e.run, e.attempt, e.event, e.status, e.detail, e.at
    from public.job_events e join public.job_results j on j.job_id = e.job_id
    where e.job_id = %(job_id)s and j.owner_id is not distinct from %(owner)s::uuid
    order by e.event_id"""

# Both return the job's status before the call; no row when the owner has no such job.
CANCEL_JOB = """select public.cancel_job(job_id) from public.job_results
    where job_id = %(job_id)s and owner_id is not distinct from %(owner)s::uuid"""
RETRY_JOB = """select public.retry_job(job_id) from public.job_results
    where job_id = %(job_id)s and owner_id is not distinct from %(owner)s::uuid"""

# The worker's state changes, each one SQL function (supabase/schema/20_functions/); this file
# only calls them. The lock order they share is in docs/architecture.md.
CLAIM_JOBS = """select msg_id, read_ct, delivery, job_id, kind, task_name, payload, attempt
    from private.claim_jobs(%(holder)s, %(batch_size)s, %(visibility_s)s, %(wait_ms)s,
                            %(poll_ms)s, %(scale)s)"""

START_ATTEMPT = """select kind, task_name, payload, attempt
    from private.start_attempt(%(holder)s, %(msg_id)s, %(job_id)s)"""

FINISH_ATTEMPTS = """select msg_id from private.finish_attempts(%(job_ids)s, %(attempts)s,
    %(statuses)s, %(results)s, %(errors)s, %(msg_ids)s) as msg_id"""

RETRY_ATTEMPT = """select private.retry_attempt(%(job_id)s, %(attempt)s, %(msg_id)s, %(error)s,
    %(delay_s)s)"""

HAND_BACK = """select msg_id from private.hand_back(%(msg_ids)s, %(read_counts)s, %(job_ids)s,
    %(attempts)s) as msg_id"""

EXTEND_VISIBILITY = "select private.extend_visibility(%(msg_ids)s, %(visibility_s)s)"

REPORT_PROGRESS = """select private.report_progress(%(job_ids)s, %(attempts)s, %(dones)s,
    %(totals)s, %(messages)s)"""

CANCEL_REQUESTED = "select job_id from private.cancel_requested(%(job_ids)s) as job_id"

# The wake-up lease: held while a worker drains, so enqueuing sends no wake-up; a woken worker
# takes its wake-up once; leaving drops the lease and looks at the queue once more.
HOLD_WORK_QUEUE = "select private.hold_work_queue(%(holder)s, %(lease_s)s)"
TAKE_WAKE_UP = "select private.take_wake_up(%(wake_id)s, %(lease_s)s)"
LEAVE_WORK_QUEUE = "select private.leave_work_queue(%(holder)s, %(lease_s)s, %(stay)s)"

SWEEP = "select private.sweep()"

# Only when tracing is on: the trace contexts of the jobs a worker claimed.
JOB_TRACEPARENTS = """select job_id, traceparent from public.job_results
    where job_id = any(%(job_ids)s) and traceparent is not null"""

# The operators' views (issue 23). The metrics are one SQL function; the failures list groups
# the failed jobs of a scope by kind and the first line of their error, with the same filter
# public.retry_jobs applies, so a bulk retry of what the list showed takes exactly those jobs.
QUEUE_METRICS = "select public.queue_metrics(%(window_s)s)"

FAILURE_GROUPS = """select now() as at, g.kind, g.error, g.jobs, g.first_at, g.last_at, g.job_ids
    from (
      select r.kind, split_part(coalesce(r.error, ''), E'\\n', 1) as error, count(*) as jobs,
             min(r.finished_at) as first_at, max(r.finished_at) as last_at,
             (array_agg(r.job_id order by r.finished_at desc, r.job_id))[1:%(sample)s] as job_ids
      from public.job_results r
      where r.status = %(status)s
        and (%(any_owner)s or r.owner_id is not distinct from %(owner)s::uuid)
        and (%(kind)s::text is null or r.kind = %(kind)s)
        and (%(error)s::text is null or split_part(coalesce(r.error, ''), E'\\n', 1) = %(error)s)
        and (%(since)s::timestamptz is null or r.finished_at >= %(since)s)
        and (%(until)s::timestamptz is null or r.finished_at < %(until)s)
        and (%(job_ids)s::uuid[] is null or r.job_id = any (%(job_ids)s::uuid[]))
      group by 1, 2
    ) g
    order by g.jobs desc, g.last_at desc, g.kind, g.error
    limit %(limit)s"""

# No rows (an empty list) still says when: the database's now.
DATABASE_NOW = "select now()"

RETRY_JOBS = """select public.retry_jobs(%(owner)s::uuid, %(any_owner)s, %(status)s, %(kind)s,
    %(error)s, %(since)s, %(until)s, %(job_ids)s::uuid[], %(expect)s, %(max)s)"""
