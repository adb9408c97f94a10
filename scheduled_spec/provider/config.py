"""A provider's settings, and how a run ended (what `tick` reports)."""

from __future__ import annotations

from dataclasses import dataclass

from scheduled_spec.cadence import PERIOD_SECONDS
from scheduled_spec.models import Job
from scheduled_spec.provider.catchup import CatchUp
from scheduled_spec.provider.ledger import State


@dataclass(frozen=True)
class ProviderConfig:
    """Settings of a provider; every duration is in seconds."""

    salt: str = ""
    catch_up: CatchUp = CatchUp.LATEST
    catch_up_cap: int = 100
    max_parallel: int = 8
    attempts: int = 3
    backoff: float = 1.0  # delay before retry n is backoff * 2 ** (n - 1)
    timeout: float | None = None  # None: the cadence's period length
    kill_grace: float = 10.0
    shutdown_grace: float = 30.0
    lease: float = 120.0
    wake: float = 30.0
    lead: float = 1.0  # `run` claims this long before a slot, so that the slot only starts
    retention_days: float = 90.0
    retention_runs: int | None = 100_000  # per job: a heartbeat's rows are capped by count


def timeout_of(job: Job, config: ProviderConfig) -> float:
    """The job's `timeout` key, else the provider's, else its cadence's period length."""
    return job.timeout or config.timeout or float(PERIOD_SECONDS[job.every])


def attempts_of(job: Job, config: ProviderConfig) -> int:
    """Attempts per run: the job's `retries` key plus one, else the provider's setting."""
    return config.attempts if job.retries is None else job.retries + 1


@dataclass(frozen=True)
class Outcome:
    """How a run ended, as recorded."""

    job_id: str
    period: str
    state: State
    attempts: int
    error: str | None
