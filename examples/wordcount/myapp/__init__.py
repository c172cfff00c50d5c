"""An example user's own package: its tasks run in supajobs' process_job (see ../README.md)."""
