"""The three stateless functions (submit, webhook, process_job) and the code they deploy with.

Each function is one module with a functions-framework target and an AWS Lambda ``handler``;
``main.py`` at the repository root serves the same three to Google Cloud Run functions. ``core/``
is platform-free (standard library only), ``db/`` the database access (every SQL call in one
module), ``http/`` the APIs' requests and responses, ``adapters/`` functions-framework and Lambda,
``worker/`` process_job's drain. Nothing here imports ``devstack``: what is local
stays local. See docs/architecture.md.
"""
