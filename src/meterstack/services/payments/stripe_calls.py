"""How meterstack calls Stripe: the metadata it writes, failures as meterstack errors.

Every Stripe object meterstack makes carries ``meterstack_…`` metadata naming what it stands
for, which is how a later attempt finds it again once Stripe has forgotten the idempotency key
(after 24 hours).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import stripe

from meterstack.errors import PaymentProviderUnavailableError

T = TypeVar("T")
#: The metadata keys meterstack writes on Stripe's objects, and searches them by.
ACCOUNT_KEY = "meterstack_account"
CHECKOUT_KEY = "meterstack_checkout"
COLLECTION_KEY = "meterstack_key"
#: On a mirrored invoice: the collection attempt being made, which its webhooks report.
ATTEMPT_KEY = "meterstack_attempt"
PORTAL_KEY = "meterstack_portal"
#: Bumped when the portal's features change, so that a new configuration is made once.
PORTAL_VERSION = "1"


def provider_call(request: Callable[[], T]) -> T:
    """A request to Stripe; a failure other than a card's is 503 ``payment_provider_unavailable``
    (card declines are outcomes, handled by the callers that expect them)."""
    try:
        return request()
    except stripe.CardError:
        raise
    except stripe.StripeError as error:
        message = getattr(error, "user_message", None) or str(error) or type(error).__name__
        raise PaymentProviderUnavailableError(
            f"Stripe did not complete the request: {message}"[:300],
            stripe_error=type(error).__name__,
        ) from None


def metadata_of(stripe_object: stripe.StripeObject) -> dict[str, str]:
    """An object's metadata as a plain dict."""
    found: dict[str, Any] = stripe_object.to_dict().get("metadata") or {}
    return {str(key): str(value) for key, value in found.items()}


def metadata_query(key: str, value: str) -> str:
    """Stripe's search query for one metadata value (quotes and backslashes escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"metadata['{key}']:'{escaped}'"


def decline_reason(error: stripe.CardError) -> str:
    """``card_declined: insufficient_funds (Your card has insufficient funds.)``."""
    detail = error.error
    code = (detail.code if detail else None) or error.code or "card_declined"
    decline = detail.decline_code if detail else None
    message = (detail.message if detail else None) or str(error)
    reason = f"{code}: {decline}" if decline else code
    return f"{reason} ({message})"[:300]
