"""The provider gives memory freed by parsing back to the OS (SPEC.md 10.16)."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc
from scheduled_spec.provider.memory import release_free_memory

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

blocks = [bytearray(2048) for _ in range(60_000)]  # glibc heap, not Python's small-object pool
keep = bytearray(2048)  # allocated last: the heap's top stays in use
del blocks
gc.collect()
before = rss()
print(release_free_memory(), before - rss())
"""


def test_release_free_memory_returns_freed_heap_to_the_os() -> None:
    # A fresh interpreter, so that nothing else of the test run shares its heap.
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    asked, released = out.stdout.split()
    assert asked == "True"
    assert int(released) > 60 * 2**20, "about 120 MiB were freed; most must leave the process"
