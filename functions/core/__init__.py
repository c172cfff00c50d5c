"""The platform-free core: jobs, tasks, retry policy and the worker loop. No I/O library here."""
