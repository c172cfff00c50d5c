"""Kept only for ``functions/http/process_api.py``'s import: the worker is ``functions.worker``."""

from functions.core.models import DrainReport

__all__ = ["DrainReport"]
