"""Idempotency keys as Stripe keeps them.

A POST with an ``Idempotency-Key`` that has been seen (for the same API key) returns the saved
status and body of the first request, with ``Idempotent-Replayed: true``, whatever happened since;
a different method, path or parameters with the same key answers 400 ``idempotency_error``. A
request that fails validation saves nothing (no endpoint ran), and keys are forgotten once they
are 24 hours old by the fake's clock: after that the same key makes a new request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import StripeError
from .state import Clock

RETENTION_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class SavedResponse:
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    saved_at: int


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    return json.dumps([method, path, params], sort_keys=True)


class IdempotencyKeys:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._saved: dict[tuple[str, str], SavedResponse] = {}

    def replay(self, api_key: str, key: str, request_fingerprint: str) -> SavedResponse | None:
        saved = self._saved.get((api_key, key))
        if saved is None:
            return None
        if self._clock.now() - saved.saved_at >= RETENTION_SECONDS:
            del self._saved[(api_key, key)]
            return None
        if saved.fingerprint != request_fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type_="idempotency_error",
            )
        return saved

    def save(self, api_key: str, key: str, response: SavedResponse) -> None:
        self._saved[(api_key, key)] = response
