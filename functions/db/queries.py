"""Every SQL statement the functions run, in one place. Values are always bound parameters."""

QUEUE = "work_queue"

SUBMIT_JOB = "select public.submit_job(%(task_name)s, %(payload)s, %(idempotency_key)s)"

JOB_COLUMNS = """job_id, task_name, payload, status, result, error, attempts, msg_id,
    created_at, started_at, finished_at, updated_at"""

GET_JOB = f"select {JOB_COLUMNS} from public.job_results where job_id = %(job_id)s"

NEWEST_JOBS = f"""select {JOB_COLUMNS} from public.job_results
    order by created_at desc, job_id limit %(limit)s"""

CLAIM_MESSAGES = """select msg_id, read_ct, message
    from pgmq.read(%(queue)s, %(visibility_s)s, %(batch_size)s)"""

START_ATTEMPT = """update public.job_results
    set status = 'running', attempts = attempts + 1, started_at = now(), error = null
    where job_id = %(job_id)s and status in ('pending', 'running')
    returning task_name, payload, attempts"""

FINISH_ATTEMPT = """update public.job_results
    set status = %(status)s, result = %(result)s, error = %(error)s, finished_at = now()
    where job_id = %(job_id)s and status = 'running' and attempts = %(attempt)s"""

RETRY_ATTEMPT = """update public.job_results
    set status = 'pending', error = %(error)s
    where job_id = %(job_id)s and status = 'running' and attempts = %(attempt)s"""

ARCHIVE_MESSAGE = "select pgmq.archive(%(queue)s, %(msg_id)s::bigint)"

SET_VISIBILITY = (
    "select msg_id from pgmq.set_vt(%(queue)s, %(msg_id)s::bigint, %(delay_s)s::integer)"
)

EXTEND_VISIBILITY = """update pgmq.q_work_queue
    set vt = clock_timestamp() + make_interval(secs => %(visibility_s)s)
    where msg_id = any(%(msg_ids)s)"""
