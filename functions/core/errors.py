"""One error type per kind of failure a caller can act on; HTTP status codes live in http/."""

from __future__ import annotations


class JobSystemError(Exception):
    """Base of the errors the functions turn into a JSON error response; ``field``, when the
    error is about one field of the request body, is its JSON pointer (``/payload/seconds``,
    ``/items/3/kind``)."""

    code = "internal"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(JobSystemError):
    code = "invalid_input"


class NotFound(JobSystemError):
    code = "not_found"


class Unauthorized(JobSystemError):
    code = "unauthorized"


class Forbidden(JobSystemError):
    """The caller is who they say, but not an operator (GET /stats)."""

    code = "forbidden"


class JobsChanged(JobSystemError):
    """A bulk retry found another set of jobs than the caller saw: nothing was retried."""

    code = "jobs_changed"


class PayloadTooLarge(JobSystemError):
    code = "payload_too_large"


class UnsupportedMediaType(JobSystemError):
    code = "unsupported_media_type"


class MethodNotAllowed(JobSystemError):
    code = "method_not_allowed"


class IdempotencyKeyReused(JobSystemError):
    """The Idempotency-Key was first used with a different request."""

    code = "idempotency_key_reused"


class NameTaken(JobSystemError):
    """The caller has something of that name already (a schedule)."""

    code = "name_taken"


class IdempotencyKeyInFlight(JobSystemError):
    """A request with the same Idempotency-Key is being processed right now."""

    code = "idempotency_key_in_flight"


class WrongJobState(JobSystemError):
    """The job is not in a state the request can act on (cancel a finished job, retry one
    that has not failed)."""

    code = "wrong_job_state"


class Misconfigured(JobSystemError):
    """The function's own settings are missing or wrong; nothing the caller sent is at fault."""

    code = "misconfigured"


class Unavailable(JobSystemError):
    """A dependency (the database, the invoker) is down; the caller may retry."""

    code = "unavailable"


class UnknownTask(Exception):
    """Raised when a message names a task that is not registered; the job fails."""
