"""The health probe: whether the store answers, known within a second whatever the store does.

The probe runs on a thread of its own, never on the threads requests wait on, and the answer
waits for it at most :data:`PROBE_SECONDS`. A probe still waiting from an earlier check means
the store is not answering: that check answers at once, without starting another.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor

from meterstack.engine import Engine

#: The longest ``/health`` waits for the store's answer.
PROBE_SECONDS = 1.0


class StoreProbe:
    def __init__(self, engine: Engine, seconds: float = PROBE_SECONDS) -> None:
        self._engine = engine
        self._seconds = seconds
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meterstack-health")
        self._pending: Future[bool] | None = None

    async def available(self) -> bool:
        pending = self._pending
        if pending is not None and not pending.done():
            return False  # the last probe is still waiting for the store
        pending = self._pending = self._thread.submit(self._engine.store_available)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(pending), self._seconds)
        except TimeoutError:
            return False

    def close(self) -> None:
        self._thread.shutdown(wait=False)
