"""Signatures per Standard Webhooks 1.0, made with the ``standardwebhooks`` library.

``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">``,
one per active secret, space-separated: during a rotation the new and the old secret both sign,
so a receiver still holding the old one keeps verifying (zero-downtime rotation).
``webhook-timestamp`` is the wall clock at sending, not the engine's clock: receivers reject a
timestamp more than a few minutes from their own time (replay protection), whatever time a
simulation runs at.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the standard's prefix, not a secret)
#: Random bytes in a secret (the standard asks for 24 to 64).
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh ``whsec_`` secret: base64 of random bytes, unique to one endpoint."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secrets_: Sequence[str], message_id: str, sent_at: datetime, body: str) -> str:
    """The ``webhook-signature`` value: one ``v1,…`` per secret, newest first."""
    return " ".join(Webhook(secret).sign(message_id, sent_at, body) for secret in secrets_)


def signed_headers(
    secrets_: Sequence[str], message_id: str, body: str, sent_at: datetime | None = None
) -> dict[str, str]:
    """The headers of one attempt, signed at ``sent_at`` (the wall clock by default)."""
    at = (sent_at or datetime.now(UTC)).replace(microsecond=0)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(secrets_, message_id, at, body),
    }
