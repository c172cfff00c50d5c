"""The local stack's default ports stay clear of the Supabase CLI's and of the ports Linux hands
out to outgoing connections, so `make run` can run beside `supabase start` and never finds a
port taken by a client."""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path

from devstack.config import DEFAULT_BASE_PORT, StackConfig

# `supabase init` writes 54320-54329 (API 54321, database 54322, Studio 54323, Inbucket 54324...).
SUPABASE_CLI = range(54320, 54330)
# Linux's default; the machine's own setting is read as well when there is one.
LINUX_DEFAULT_EPHEMERAL = range(32768, 61000)


def _ephemeral() -> range:
    setting = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if not setting.exists():
        return LINUX_DEFAULT_EPHEMERAL
    low, high = (int(n) for n in setting.read_text().split())
    return range(low, high + 1)


def test_default_ports_are_outside_the_supabase_cli_and_ephemeral_ranges() -> None:
    cfg = StackConfig.from_base_port(Path("."), DEFAULT_BASE_PORT, None, ("1", "2"), 1.0)
    ports = astuple(cfg.ports)
    assert len(set(ports)) == 6
    for port in ports:
        assert 1024 <= port < 65536
        assert port not in SUPABASE_CLI
        assert port not in LINUX_DEFAULT_EPHEMERAL and port not in _ephemeral()
