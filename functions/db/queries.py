"""Every SQL statement the functions run, in one place. Values are always bound parameters."""

QUEUE = "work_queue"

SUBMIT_JOB = """select public.submit_job(%(task_name)s, %(payload)s, %(idempotency_key)s,
    %(run_at)s, %(delay_seconds)s, %(kind)s)"""
SUBMIT_JOBS = "select public.submit_jobs(%(items)s, %(idempotency_key)s)"

# A signed-in caller's claims, for this transaction only (pooler-safe): job_results.owner_id
# defaults to auth.uid(), which reads them.
ACT_AS_USER = """select set_config('request.jwt.claims', %(claims)s, true),
    set_config('request.jwt.claim.sub', %(sub)s, true)"""

JOB_COLUMNS = """job_id, task_name, kind, payload, status, result, error, attempts, msg_id,
    created_at, started_at, finished_at, updated_at, owner_id, progress, progress_total,
    progress_message, run_at, cancel_requested_at, run"""

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

LIST_KINDS = """select kind, description, payload_schema, time_limit_s
    from public.task_kinds order by kind"""

PUBLISH_KINDS = """insert into public.task_kinds (kind, description, payload_schema, time_limit_s)
    select k.kind, k.description, k.payload_schema, k.time_limit_s
    from jsonb_to_recordset(%(kinds)s)
        as k(kind text, description text, payload_schema jsonb, time_limit_s double precision)
    on conflict (kind) do update
    set description = excluded.description, payload_schema = excluded.payload_schema,
        time_limit_s = excluded.time_limit_s, published_at = now()"""

# Events, cancel and retry are scoped like the reads above: owner null means a public demo
# job. owner_id never changes after submit, so checking it in the same statement is enough.
JOB_EVENTS = """select e.run, e.attempt, e.event, e.status, e.detail, e.at
    from public.job_events e join public.job_results j on j.job_id = e.job_id
    where e.job_id = %(job_id)s and j.owner_id is not distinct from %(owner)s::uuid
    order by e.event_id"""

# Both return the job's status before the call; no row when the owner has no such job.
CANCEL_JOB = """select public.cancel_job(job_id) from public.job_results
    where job_id = %(job_id)s and owner_id is not distinct from %(owner)s::uuid"""
RETRY_JOB = """select public.retry_job(job_id) from public.job_results
    where job_id = %(job_id)s and owner_id is not distinct from %(owner)s::uuid"""

# The heartbeat's two statements: the latest progress of running attempts (only while the
# attempt still owns the job), and which in-flight jobs a person asked to cancel.
REPORT_PROGRESS = """update public.job_results j
    set progress = p.done, progress_total = p.total, progress_message = p.message
    from unnest(%(job_ids)s::uuid[], %(attempts)s::int[], %(dones)s::float8[],
                %(totals)s::float8[], %(messages)s::text[])
         as p(job_id, attempt, done, total, message)
    where j.job_id = p.job_id and j.status = 'running' and j.attempts = p.attempt"""

CANCEL_REQUESTED = """select job_id from public.job_results
    where job_id = any(%(job_ids)s::uuid[]) and cancel_requested_at is not null"""

# The claim protocol lives in one SQL function (migration 20261201001100): first deliveries
# come back started, finished jobs' messages archived ('skipped'), redeliveries unstarted.
CLAIM_JOBS = """select msg_id, read_ct, message, delivery, kind, task_name, payload, attempt
    from private.claim_jobs(%(batch_size)s, %(visibility_s)s, %(wait_ms)s, %(poll_ms)s)"""

# The wake-up lease (migration 20261201001000): held while a worker drains, so enqueuing sends
# no webhook; leaving drops it and looks at the queue once more under the wake-up lock.
HOLD_WORK_QUEUE = "select private.hold_work_queue(%(holder)s, %(lease_s)s)"

LEAVE_WORK_QUEUE = "select private.leave_work_queue(%(holder)s, %(lease_s)s, %(stay)s)"

START_ATTEMPT = """update public.job_results
    set status = 'running', attempts = attempts + 1, started_at = now(), error = null
    where job_id = %(job_id)s and msg_id = %(msg_id)s
      and status in ('pending', 'scheduled', 'running')
    returning task_name, payload, attempts, kind"""

# Outcomes of a group of attempts, written and archived in one statement (one transaction);
# an attempt that no longer owns its job (status running, same attempt) changes nothing.
# The archive is pgmq.archive's statement written out, so it can be planned once (pgmq.archive
# builds it with format() on every call), with the columns every PGMQ version has.
FINISH_ATTEMPTS = """with outcome as (
        select * from unnest(
            %(job_ids)s::uuid[], %(attempts)s::int[], %(statuses)s::text[],
            %(results)s::text[], %(errors)s::text[], %(msg_ids)s::bigint[]
        ) as o(job_id, attempt, status, result, error, msg_id)
    ), recorded as (
        update public.job_results j
        set status = o.status, result = o.result, error = o.error, finished_at = now()
        from outcome o
        where j.job_id = o.job_id and j.status = 'running' and j.attempts = o.attempt
        returning o.msg_id
    ), archived as (
        delete from pgmq.q_work_queue q using recorded r where q.msg_id = r.msg_id
        returning q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message
    )
    insert into pgmq.a_work_queue (msg_id, read_ct, enqueued_at, vt, message)
    select msg_id, read_ct, enqueued_at, vt, message from archived
    returning msg_id"""

RETRY_ATTEMPT = """update public.job_results
    set status = 'pending', error = %(error)s
    where job_id = %(job_id)s and status = 'running' and attempts = %(attempt)s"""

ARCHIVE_MESSAGES = "select pgmq.archive(%(queue)s, %(msg_ids)s::bigint[])"

# Not pgmq.set_vt: its integer seconds would round a jittered backoff back into lockstep.
SET_VISIBILITY = """update pgmq.q_work_queue
    set vt = clock_timestamp() + make_interval(secs => %(delay_s)s)
    where msg_id = %(msg_id)s"""

# Messages returned unrun (or cut short by the invocation's deadline), as if this delivery had
# not happened: a started job goes back to pending with the attempt uncounted, and the read
# count drops so the next delivery is not mistaken for a redelivery (one that may have crashed
# a worker, and is run alone). Only what the caller still owns changes: the job at the claim's
# attempt, the message at the read count it was claimed with. Not pgmq.set_vt, which cannot
# touch the read count.
HAND_BACK = """with handed as (
        select * from unnest(
            %(msg_ids)s::bigint[], %(read_counts)s::int[], %(job_ids)s::uuid[], %(attempts)s::int[]
        ) as h(msg_id, read_ct, job_id, attempt)
    ), released as (
        update public.job_results j
        set status = 'pending', attempts = j.attempts - 1
        from handed h
        where h.attempt is not null and j.job_id = h.job_id
          and j.status = 'running' and j.attempts = h.attempt
          and exists (
              select from pgmq.q_work_queue q where q.msg_id = h.msg_id and q.read_ct = h.read_ct
          )
        returning h.msg_id
    )
    update pgmq.q_work_queue q
    set vt = clock_timestamp(), read_ct = q.read_ct - 1
    from handed h
    where q.msg_id = h.msg_id and q.read_ct = h.read_ct
      and (h.attempt is null or h.msg_id in (select msg_id from released))
    returning q.msg_id"""

EXTEND_VISIBILITY = """update pgmq.q_work_queue
    set vt = clock_timestamp() + make_interval(secs => %(visibility_s)s)
    where msg_id = any(%(msg_ids)s)"""
