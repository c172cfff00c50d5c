"""Environment variables, each declared once: its name, its default, what it means, an example.

A program's settings object (``functions.config.WorkerConfig``, ``devstack.relay.settings``...)
lists the variables it reads in ``READS`` and reads them once, through :class:`Var`, so a name
and its default are written in one place. docs/configuration.md is rendered from these
declarations (scripts/config_docs.py) and a test keeps it complete.

Pure standard library: the Lambda packages carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

# A secret is taken from exactly one of NAME_SSM_PARAMETER (an SSM SecureString parameter's
# name), NAME_SECRET_ARN (a Secrets Manager secret) or NAME itself (the value, for local runs).
SSM_SUFFIX = "_SSM_PARAMETER"
SECRETS_MANAGER_SUFFIX = "_SECRET_ARN"


@dataclass(frozen=True)
class Var:
    """One environment variable. ``default`` is what an unset or empty variable means ("" when
    it means "not set"); ``secret`` ones may also come from SSM or Secrets Manager."""

    name: str
    help: str
    default: str = ""
    example: str = ""
    secret: bool = False

    def get(self, env: Mapping[str, str]) -> str:
        """The value ``env`` gives, stripped, or the default when unset or blank."""
        return env.get(self.name, "").strip() or self.default

    def given(self, env: Mapping[str, str]) -> bool:
        """Whether ``env`` sets it (for a secret: through any of its sources)."""
        return any(env.get(name, "").strip() for name in self.names())

    def names(self) -> tuple[str, ...]:
        """The names it may be set under: a secret's SSM and Secrets Manager forms too."""
        if not self.secret:
            return (self.name,)
        return (self.name, self.name + SSM_SUFFIX, self.name + SECRETS_MANAGER_SUFFIX)


class Settings:
    """What a settings object declares: who it is (``READER``, as the configuration table names
    it) and the variables it reads (``READS``)."""

    READER: ClassVar[str]
    READS: ClassVar[tuple[Var, ...]]
