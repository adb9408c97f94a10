"""Give the memory that parsing freed back to the operating system, where the C library allows.

Loading a large project allocates the TOML document, then frees it. glibc keeps freed heap
memory for reuse rather than returning it, so a long-running provider would carry the
parser's peak for its whole life. `malloc_trim(0)` returns it; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)  # glibc has it; musl does not


def release_free_memory() -> bool:
    """Return freed heap memory to the OS. True when the C library could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
