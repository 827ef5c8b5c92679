"""Stripe's error object: ``{"error": {"type", "code", "message", "param", ...}}`` with its status.

Stripe answers 400 for a bad request, 401 for a bad key, 402 for a declined card, 404 for a
missing object and 409 for a conflict; the ``type`` says which family the error belongs to and the
official library picks its exception class from the status and that type.
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]

_DOC_URL = "https://docs.stripe.com/error-codes/"


class StripeError(Exception):
    """An error answer, raised anywhere in the fake and rendered once by the app."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: JsonObject | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self, request_id: str | None = None) -> JsonObject:
        error: JsonObject = {"message": self.message, "type": self.type}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = _DOC_URL + self.code.replace("_", "-")
        if self.param is not None:
            error["param"] = self.param
        if request_id is not None:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}?t=0"
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def unknown_parameter(param: str) -> StripeError:
    return invalid(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def missing_parameter(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def no_such(noun: str, object_id: str, *, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {noun}: '{object_id}'", param=param, code="resource_missing")


def wrong_state(message: str, *, param: str | None = None) -> StripeError:
    """A request that is well formed but not allowed in the object's current state."""
    return invalid(message, param=param)
