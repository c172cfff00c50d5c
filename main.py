"""The source root Google's Python buildpack builds for Cloud Run functions: it imports this
``main.py`` and serves the target named by ``--entry-point`` (``submit``, ``webhook`` or
``process_job``), from functions.gcp. Building a handler (configuration, connections) still
waits for the first request."""

from functions.gcp import process_job, submit, webhook

__all__ = ["process_job", "submit", "webhook"]
