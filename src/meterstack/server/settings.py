"""Service settings, from the environment (``METERSTACK_…``) or the command line."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERSTACK_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    catalog: str = DEFAULT_CATALOG
    host: str = "127.0.0.1"
    port: int = 8000
    #: The key of the operator API (``/v1``); without one, ``/v1`` refuses every request.
    operator_key: str | None = None
    #: Platform JWTs (D19): the secret (HS256) or PEM public key (RS256/ES256) they are signed with.
    jwt_key: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_audience: str | None = None
    #: The claim naming the account.
    jwt_account_claim: str = "account_id"
    #: Where the service is reached; the local provider's pages (checkout and portal URLs)
    #: point there, and it is the origin checkout return URLs may always use (D30).
    public_url: str | None = None
    #: The payment provider: ``local`` (the embedded one, for development), ``stripe`` (its
    #: account from ``STRIPE_API_KEY`` and ``STRIPE_WEBHOOK_SECRET``, docs/payments.md) or none,
    #: when checkouts, customer pack purchases and the portal answer 503
    #: ``payments_not_configured``.
    payments: Literal["local", "stripe"] | None = None
    #: Other origins (``https://app.example.com``) checkout success and cancel URLs may use.
    return_url_origins: tuple[str, ...] = ()
    #: Seconds a request waits for the database (pool, locks, statements) before it answers
    #: 503 ``store_unavailable``; None = the database URL's ``?timeout=``, else 5.
    store_timeout: float | None = None
    #: Anonymous accounts created per client address per hour (D19).
    anonymous_per_hour: int = 10
    #: The largest request body a route accepts, in bytes (413 ``body_too_large`` beyond).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    #: Other sizes for some routes, by method and path template: ``{"POST /v1/usage/batch":
    #: 4194304}`` (``METERSTACK_BODY_LIMITS``, a JSON object).
    body_limits: dict[str, int] = {}
    #: How long a customer portal link (``GET /api/billing/portal``) can be opened, in seconds.
    portal_link_seconds: int = Field(default=3600, ge=1, le=30 * 24 * 3600)
    #: Seconds the console's **Close ended periods now** waits for the close before showing its
    #: page: a small close is done by then and shows its outcome at once; a big one its progress.
    close_wait_seconds: float = Field(default=2.0, ge=0, le=60)
