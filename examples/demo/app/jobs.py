"""The demo project's jobs. Each prints what it would do and the context it was given."""

import os


def _context() -> str:
    job, period = os.environ.get("SCHEDULED_JOB_ID"), os.environ.get("SCHEDULED_PERIOD")
    return f"job={job} period={period}"


def clean_files() -> None:
    print("cleaning temporary files", _context())


def refresh_cache() -> None:
    print("refreshing the cache", _context())


async def send_digest() -> None:
    print("sending the weekly digest", _context())


def rotate_keys() -> None:
    print("rotating keys", _context())


class Heartbeat:
    @staticmethod
    def beat() -> None:
        print("alive", _context())
