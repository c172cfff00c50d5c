"""The benchmark: our job system against PGMQ alone, pgqueuer, procrastinate and Celery on Redis.

Run it with ``python -m bench`` (``make bench``); ``python -m bench --help`` lists the sizes.
"""
