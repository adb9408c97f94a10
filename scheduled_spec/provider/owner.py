"""Who holds a claim (SPEC.md 10.3.2): host, process, the process's start token, a random ID.

The start token (boot ID and start time, from /proc) tells a live owner from a process
that merely reuses its pid, so a provider on the same host can prove an owner dead.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()[:8]
    except OSError:
        return ""


def process_start_token(pid: int) -> str | None:
    """``<boot id>:<start time in clock ticks>`` of a live process, None when it is gone.

    Tells a live owner from a process that merely reuses its pid. On systems without
    /proc it is ``""`` for a live pid (then only the lease decides).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return f"{_boot_id()}:{fields[19]}" if len(fields) > 19 else ""


@dataclass(frozen=True)
class Owner:
    """Who holds a claim: host, pid, the process's start token, and a random ID."""

    host: str
    pid: int
    token: str
    nonce: str = field(default_factory=lambda: secrets.token_hex(6))

    @classmethod
    def current(cls) -> Owner:
        """This process, with a fresh random ID (one per provider instance)."""
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start_token(pid) or "")

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}:{self.nonce}"

    @classmethod
    def parse(cls, text: str) -> Owner:
        """Inverse of ``str(owner)``. Raises ValueError."""
        host, pid, boot, ticks, nonce = text.rsplit(":", 4)
        return cls(host, int(pid), f"{boot}:{ticks}" if boot or ticks else "", nonce)

    def proven_dead(self) -> bool:
        """True only when this owner runs on this host and its process is gone or replaced."""
        if self.host != socket.gethostname() or not self.token:
            return False
        current = process_start_token(self.pid)
        return current is None or current not in ("", self.token)
