"""The source root Google's Python buildpack builds for Cloud Run functions: it imports this
``main.py`` and serves the target named by ``--entry-point`` (``submit``, ``webhook`` or
``process_job``). Each is the functions-framework target of the same module the local stack and
AWS use; building a handler (configuration, connections) still waits for the first request."""

from functions.process_job import process_job
from functions.submit import submit
from functions.webhook import webhook

__all__ = ["process_job", "submit", "webhook"]
