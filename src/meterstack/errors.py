"""The domain error base: every error carries a stable code and its HTTP status (D4)."""

from __future__ import annotations

from typing import Any


class MeterstackError(Exception):
    """Base of every error meterstack raises on purpose."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInputError(MeterstackError):
    code = "invalid_input"
    http_status = 422


class OutOfRangeError(InvalidInputError, ValueError):
    """A number past what the store can hold (:mod:`meterstack.bounds`): a quantity, a limit,
    a gauge's level or delta, a key's quota above 10^15, a grace above 1000 %, or a counter that
    would pass the store's 64-bit range. Refused before anything is written."""

    code = "out_of_range"


class NulCharacterError(InvalidInputError, ValueError):
    """A text (an id, a key, an idempotency key, a name) holding a NUL character, which
    PostgreSQL cannot store: refused on every backend alike, before it reaches the store."""

    code = "nul_character"


class NotFoundError(MeterstackError):
    code = "not_found"
    http_status = 404


class StoreUnavailableError(MeterstackError):
    """The database could not complete the unit of work: it went away, or stayed locked.

    Nothing was recorded, or (when the link broke during the commit) the outcome is unknown:
    a retry with the same idempotency key counts the request at most once.
    """

    code = "store_unavailable"
    http_status = 503


class TransactionConflictError(StoreUnavailableError):
    """The database undid the unit of work to break a deadlock (or a serialization conflict).

    Nothing was recorded and deciding again succeeds: the metering services do so themselves,
    a few times, before this reaches a caller.
    """


class InternalError(MeterstackError):
    """A request failed inside the store for a reason of its own (a refused row, a fault).

    It failed alone: nothing of it was recorded, and the requests that shared its transaction
    were decided without it. The driver's error is the cause.
    """

    code = "internal_error"
    http_status = 500


class ConflictError(MeterstackError):
    code = "conflict"
    http_status = 409


class IdempotencyKeyReusedError(ConflictError):
    """The same idempotency key came with a different payload (D7)."""

    code = "idempotency_key_reused"


class ReservationExpiredError(ConflictError):
    """A hold was committed after it lapsed (D6)."""

    code = "reservation_expired"


class ReservationClosedError(ConflictError):
    code = "reservation_closed"


class CatalogConflictError(ConflictError):
    """A catalog version number already stored with different content."""

    code = "catalog_version_conflict"


class RateLimitedError(MeterstackError):
    """Too many requests of one kind from one client in a window (D19's anonymous sign-ups)."""

    code = "rate_limited"
    http_status = 429


class UpgradeRequiredError(MeterstackError):
    """The tier lacks what was asked for and a purchasable higher tier has it (D4)."""

    code = "upgrade_required"
    http_status = 402


class NotAllowedForTierError(MeterstackError):
    code = "not_allowed_for_tier"
    http_status = 403


class RefusedError(MeterstackError):
    """A request refused by a limit or a tier; ``details`` carries the refusing decision (D4).

    The code and status are the decision's own (``limit_exceeded`` 429, ``hard_limit_exceeded``
    403, ``upgrade_required`` 402, ``read_only`` 403…), so clients map it by code.
    """

    def __init__(self, code: str, http_status: int, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code
        self.http_status = http_status


class AuthenticationError(MeterstackError):
    """An API key that is wrong, truncated, malformed or revoked: one answer for all of them."""

    code = "invalid_api_key"
    http_status = 401


class EmailTakenError(ConflictError):
    """Another account already registered this email address (A7)."""

    code = "email_taken"


class InvalidEmailError(InvalidInputError):
    code = "invalid_email"


class PasswordTooShortError(InvalidInputError):
    code = "password_too_short"


class PlanNotSelfServeError(MeterstackError):
    """A plan customers cannot choose themselves: custom-priced, or sold by contract (D30)."""

    code = "plan_not_self_serve"
    http_status = 403


class PaymentsNotConfiguredError(MeterstackError):
    """No payment provider is configured, so nothing can be bought (checkouts, packs, portal)."""

    code = "payments_not_configured"
    http_status = 503


class PaymentProviderUnavailableError(MeterstackError):
    """The payment provider did not answer, or refused a request meterstack made: nothing was
    bought; the same request later is safe (it carries the same idempotency key)."""

    code = "payment_provider_unavailable"
    http_status = 503


class InvalidSignatureError(MeterstackError):
    """A provider's webhook whose signature does not verify, or was signed too long ago (a
    replay): refused, nothing changed."""

    code = "invalid_signature"
    http_status = 400


class PaymentMethodRequiredError(MeterstackError):
    """Turning on what is charged later (overage) needs a payment method with the provider."""

    code = "payment_method_required"
    http_status = 402


class BeyondRetentionError(MeterstackError):
    """A customer asked for usage history older than the plan's analytics retention (D9,
    D27); the details carry the window."""

    code = "beyond_retention"
    http_status = 403
