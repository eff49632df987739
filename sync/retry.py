"""The retry policy as a value (STYLE §12, DESIGN §8).

Only transient failures are retried (``Unreachable``: the upstream is down, the link dropped,
the deadline passed); a refusal is permanent and surfaces at once. Backoff is exponential with
jitter and a cap, inside a total time budget. This is the only retry layer: gRPC's own retries
are switched off on every channel (``sync.tls.CHANNEL_OPTIONS``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from sync.errors import Unreachable

__all__ = ["ONE_SHOT", "RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.5
    max_backoff_s: float = 30.0
    budget_s: float = 120.0
    call_timeout_s: float = 30.0  # deadline of each single call

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.budget_s <= 0 or self.call_timeout_s <= 0:
            raise ValueError("a retry policy needs at least one attempt and positive times")

    def run(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` until it succeeds, raises a non-transient error, or the budget is spent."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(Unreachable),
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_after_delay(self.budget_s),
            wait=tenacity.wait_random_exponential(multiplier=self.initial_s,
                                                  max=self.max_backoff_s),
            reraise=True,
        )
        return retrying(fn)


# One try with a short deadline: what an interactive command uses, so that an agent at the
# desk learns within seconds that the upstream is not there.
ONE_SHOT = RetryPolicy(attempts=1, budget_s=10.0, call_timeout_s=10.0)
