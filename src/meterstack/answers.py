"""A decision as HTTP answers it, shared by the service and the ASGI middleware (C5, D4)."""

from __future__ import annotations

from typing import Any

from meterstack.rules.decisions import Decision


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """``RateLimit-*`` headers of a metered answer, and ``Retry-After`` on a 429 (until reset)."""
    headers: dict[str, str] = {}
    if decision.limit is not None:
        headers["RateLimit-Limit"] = str(decision.limit)
        headers["RateLimit-Remaining"] = str(decision.remaining or 0)
    reset = decision.reset_seconds
    if reset is not None:
        headers["RateLimit-Reset"] = str(reset)
        if decision.http_status == 429:
            headers["Retry-After"] = str(reset)
    return headers


def refusal_body(decision: Decision) -> dict[str, Any]:
    """A refused decision in the error shape; ``current_usage`` counts open holds too (C5)."""
    details = {
        **decision.to_dict(),
        "current_usage": decision.used + decision.held,
        "limit": decision.limit,
    }
    return {"error": {"code": str(decision.code), "message": decision.message, "details": details}}
