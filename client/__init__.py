"""A client for callers that are not a browser: submit a job and follow it to its end."""

from client.follow import FollowResult, follow_job
from client.submit import SubmitError, submit_job

__all__ = ["FollowResult", "SubmitError", "follow_job", "submit_job"]
