"""The Stripe account meterstack talks to: its settings and the one place its client is built.

Every module that calls Stripe (the provider, payouts, refunds) builds its ``StripeClient`` with
:func:`stripe_client`, so that the key, the API base (a test points it at a fake on loopback)
and the network retries are decided once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import stripe
from stripe._base_address import BaseAddresses

#: Stripe's own API address, used unless ``STRIPE_API_BASE`` names another.
STRIPE_API_BASE = "https://api.stripe.com"
#: Seconds a webhook's signature stays acceptable after Stripe signed it (the library's default).
DEFAULT_WEBHOOK_TOLERANCE = 300


@dataclass(frozen=True)
class StripeSettings:
    """What meterstack needs of a Stripe account."""

    #: The secret key (``sk_live_…`` or ``sk_test_…``), or a restricted key (``rk_…``).
    api_key: str = field(repr=False)
    #: The signing secret (``whsec_…``) of the webhook endpoint registered for ``/webhooks/stripe``.
    webhook_secret: str = field(repr=False)
    #: Where Stripe's API is reached; tests point it at the fake Stripe.
    api_base: str = STRIPE_API_BASE
    #: How many times the library retries a request that failed on the network (it sends the
    #: same idempotency key each time, so a retry never charges twice).
    max_network_retries: int = 2
    #: Seconds of age beyond which a webhook's signature is refused (a replayed delivery).
    webhook_tolerance: int = DEFAULT_WEBHOOK_TOLERANCE
    #: The signing secret of the Connect webhook endpoint (creators' ``account.updated``), when
    #: it is another endpoint than the account's; both post to ``/webhooks/stripe``.
    connect_webhook_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StripeSettings:
        """``STRIPE_API_KEY``, ``STRIPE_WEBHOOK_SECRET`` and optionally ``STRIPE_API_BASE`` and
        ``STRIPE_CONNECT_WEBHOOK_SECRET``."""
        env = os.environ if environ is None else environ
        required = ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET")
        missing = [name for name in required if not env.get(name)]
        if missing:
            # A configuration mistake, found when the service starts, never by a request.
            raise ValueError("METERSTACK_PAYMENTS=stripe needs " + " and ".join(missing))
        return cls(
            api_key=env["STRIPE_API_KEY"],
            webhook_secret=env["STRIPE_WEBHOOK_SECRET"],
            api_base=env.get("STRIPE_API_BASE") or STRIPE_API_BASE,
            connect_webhook_secret=env.get("STRIPE_CONNECT_WEBHOOK_SECRET") or None,
        )


def stripe_client(settings: StripeSettings) -> stripe.StripeClient:
    """The official client for the account, every API family sent to ``api_base``."""
    base = settings.api_base.rstrip("/")
    addresses: BaseAddresses = {"api": base}
    if base != STRIPE_API_BASE:
        # Connect, files and meter events have hosts of their own at Stripe; a stand-in
        # serves them all on one address.
        addresses = {"api": base, "connect": base, "files": base, "meter_events": base}
    return stripe.StripeClient(
        settings.api_key,
        base_addresses=addresses,
        max_network_retries=settings.max_network_retries,
    )
