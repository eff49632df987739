"""Rate limits counted in the hub's database (``rate_hits``), so that every hub process
counts the same tries: the public status lookup allows ``limit`` tries a minute from one
address. A try is counted whether it finds a case or not (guessing codes costs the same)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, insert, select

from county_hub.hub import Hub
from county_hub.schema import HubRateHit
from node.kernel.clock import to_ms
from node.kernel.errors import PeerError
from node.store.schema import table_of

__all__ = ["RateLimited", "take"]

_HITS = table_of(HubRateHit)


class RateLimited(PeerError):
    code = "rate_limited"


def take(hub: Hub, bucket: str, *, limit: int, window: dt.timedelta) -> None:
    """Count one try in ``bucket``; ``RateLimited`` if there were ``limit`` in the window."""
    now = hub.clock.now()
    since = to_ms(now - window)
    with hub.store.db.write() as conn:
        conn.execute(delete(_HITS).where(_HITS.c.at_ms < since))
        used = conn.execute(select(func.count()).select_from(_HITS).where(
            _HITS.c.bucket == bucket[:96], _HITS.c.at_ms >= since)).scalar() or 0
        if used >= limit:
            raise RateLimited(f"查询太频繁：每分钟最多 {limit} 次，请稍后再试")
        conn.execute(insert(_HITS).values(bucket=bucket[:96], at_ms=to_ms(now)))
