"""The worker's and the built-in tasks' defaults, written once: the core's settings objects
(TaskSettings, WorkerSettings) and the environment's declarations (functions/config.py: an
unset TASK_MIN_SECONDS, BATCH_SIZE...) both take them from here. No imports, so the webhook's
package gains nothing by reading them."""

SIMULATE_MIN_S = 5.0  # TASK_MIN_SECONDS
SIMULATE_MAX_S = 10.0  # TASK_MAX_SECONDS
BATCH_SIZE = 10  # BATCH_SIZE
VISIBILITY_S = 30  # VISIBILITY_TIMEOUT_SECONDS
TASK_TIMEOUT_S = 600.0  # TASK_TIMEOUT_SECONDS: the limit of a task kind that declares none
MAX_ATTEMPTS = 3  # MAX_ATTEMPTS
RETRY_BASE_DELAY_S = 2.0  # RETRY_BASE_DELAY_SECONDS
# One limit for a job and for a batch: it bounds what one request holds in memory and writes in
# one transaction. A batch of 1,000 typical jobs (~150 bytes each) fits; larger sets go as
# several batches. Here rather than in validation, so an adapter reads it without importing
# the request models (the webhook's cold start).
MAX_BODY_BYTES = 256 * 1024
