"""Errors of the SDK, mapped from the service's ``{"error": {"code", "message", "details"}}``.

The class comes from the error's ``code`` (D4): a 403 is :class:`QuotaExceededError` when its code
is ``hard_limit_exceeded`` and :class:`NotAllowedError` when it is ``not_allowed_for_tier``. The
status only picks the family of a code this SDK does not know (401, 404, 409, 422).
"""

from __future__ import annotations

from typing import Any

from meterstack.rules.decisions import Decision


class MeterstackClientError(Exception):
    """An error answered by the service, or met on the way to it.

    ``status`` is the HTTP status, or None when no answer came (:class:`ServiceUnavailableError`).
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None,
        details: dict[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details: dict[str, Any] = details or {}
        #: Seconds the service asked the caller to wait (``Retry-After``), when it said.
        self.retry_after = retry_after

    @property
    def decision(self) -> Decision | None:
        """The refusing decision, when the service answered a refused request with one."""
        try:
            return Decision.from_dict(self.details)
        except (KeyError, TypeError, ValueError):
            return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r})"


class QuotaExceededError(MeterstackClientError):
    """A limit (429 ``limit_exceeded``) or a grace zone's hard limit (403) is reached.

    ``details["current_usage"]`` and ``details["limit"]`` say where the account stands (C5).
    """


class UpgradeRequiredError(MeterstackClientError):
    """The tier lacks it and a purchasable higher tier has it (402 ``upgrade_required``)."""


class InsufficientBalanceError(MeterstackClientError):
    """The wallet's balance does not cover the price (402 ``insufficient_balance``, D20);
    ``details`` carries ``balance`` and ``price``."""


class WalletSuspendedError(MeterstackClientError):
    """A lost dispute left money owed: the wallet's charges wait until a deposit pays it
    (402 ``wallet_suspended``)."""


class BudgetExceededError(MeterstackClientError):
    """A hard budget would be passed (402 ``budget_exceeded``, D26): nothing was counted or
    charged; ``details`` carries the budget and the period's charges."""


class PriceChangedError(MeterstackClientError):
    """The price is above the ``max_price`` the caller accepted (409 ``price_changed``)."""


class NotAllowedError(MeterstackClientError):
    """Not allowed for the current tier (403 ``not_allowed_for_tier``)."""


class ModuleNotAllowedError(NotAllowedError):
    """The API key's service caps do not allow the module (403 ``module_not_allowed``, A8)."""


class PlanNotSelfServeError(NotAllowedError):
    """The plan cannot be chosen by the customer (403 ``plan_not_self_serve``, D30)."""


class AuthenticationError(MeterstackClientError):
    """The API key is missing, wrong or revoked (401)."""


class NotFoundError(MeterstackClientError):
    """No such account, reservation or object (404)."""


class ConflictError(MeterstackClientError):
    """The request conflicts with the state: a reused idempotency key, an expired hold… (409)."""


class InvalidRequestError(MeterstackClientError):
    """The service refused the request's content (422 ``invalid_input``)."""


class ServiceUnavailableError(MeterstackClientError):
    """The service could not be reached, or stayed unavailable through every retry."""


_BY_CODE: dict[str, type[MeterstackClientError]] = {
    "limit_exceeded": QuotaExceededError,
    "hard_limit_exceeded": QuotaExceededError,
    "upgrade_required": UpgradeRequiredError,
    "not_allowed_for_tier": NotAllowedError,
    "module_not_allowed": ModuleNotAllowedError,
    "plan_not_self_serve": PlanNotSelfServeError,
    "insufficient_balance": InsufficientBalanceError,
    "wallet_suspended": WalletSuspendedError,
    "price_changed": PriceChangedError,
    "budget_exceeded": BudgetExceededError,
    "too_many_alerts": ConflictError,
    "invalid_api_key": AuthenticationError,
    "unauthenticated": AuthenticationError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "idempotency_key_reused": ConflictError,
    "reservation_expired": ConflictError,
    "reservation_closed": ConflictError,
    "catalog_version_conflict": ConflictError,
    "email_taken": ConflictError,
    "invalid_input": InvalidRequestError,
    "invalid_email": InvalidRequestError,
    "password_too_short": InvalidRequestError,
}

#: The family of a code this SDK does not know yet, by status.
_BY_STATUS: dict[int, type[MeterstackClientError]] = {
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
    502: ServiceUnavailableError,
    503: ServiceUnavailableError,
    504: ServiceUnavailableError,
}


def error_class(code: str, status: int) -> type[MeterstackClientError]:
    """The class for an answer's code, falling back on its status for unknown codes (D4)."""
    return _BY_CODE.get(code) or _BY_STATUS.get(status, MeterstackClientError)


def error_from_answer(
    status: int, body: object, retry_after: str | None = None
) -> MeterstackClientError:
    """The error for an answer of ``status`` whose decoded JSON body is ``body``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code: str = error["code"]
        message = str(error.get("message") or code)
        details = error.get("details")
        details = details if isinstance(details, dict) else {}
    else:
        # Not our shape: a proxy or load balancer answered.
        code, message, details = f"http_{status}", f"the service answered HTTP {status}", {}
    return error_class(code, status)(
        code, message, status, details, retry_after=_seconds(retry_after)
    )


def _seconds(header: str | None) -> int | None:
    if header is None or not header.strip().isdigit():
        return None
    return int(header.strip())
