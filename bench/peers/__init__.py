"""The systems we measure ourselves against, one module each, with the same few entry points:
``time_submit(url, clients, jobs)``, ``reset``/``fill``/``remaining``/``drain_worker`` for the
drain, and a ``Dispatch`` async context for dispatch latency where the peer has one."""
