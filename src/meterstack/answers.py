"""The JSON every door answers with: decisions (C5, D4), usage reports, key listings and
invoices, shared by the service, the ASGI middleware and the CLI (no door imports another).

The engine's answers that are the store's own rows (an account of the console's listing, an
account a period close could not rate) are named here too, so that a door types them without
reaching into the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meterstack.rules.decisions import Decision
from meterstack.services.keys import ApiKey
from meterstack.services.usage import UsageReport
from meterstack.store.rows import AccountListing, CloseFailure

if TYPE_CHECKING:
    from meterstack.records.invoicing import Invoice


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
    details = decision.refusal_details()
    return {"error": {"code": str(decision.code), "message": decision.message, "details": details}}


def usage_json(report: UsageReport) -> dict[str, Any]:
    """A usage report as JSON (the operator API and ``meterstack usage --json``)."""
    return {
        "account_id": report.account_id,
        "plan": report.plan,
        "period": report.period.key,
        "period_start": report.period.start.isoformat(),
        "period_end": report.period.end.isoformat(),
        "project_id": report.project_id,
        "pending_plan": report.pending_plan,
        "items": {
            item.item: {
                "kind": item.kind,
                "used": item.used,
                "held": item.held,
                "limit": item.limit,
                "hard_limit": item.hard_limit,
                "remaining": item.remaining,
                "percent": None if item.percent is None else str(item.percent),
                "is_near_limit": item.is_near_limit,
                "overage_units": item.overage_units,
                "overage_enabled": item.overage_enabled,
                "can_make_requests": item.can_make_requests,
            }
            for item in report.items.values()
        },
    }


def api_key_json(key: ApiKey) -> dict[str, Any]:
    """A key as listed (by the operator API and the CLI): everything but its text."""
    caps = key.caps
    return {
        "id": key.id,
        "prefix": key.prefix,
        "kind": key.kind,
        "project_id": key.project_id,
        "name": key.name,
        "modules": None if caps is None or caps.modules is None else list(caps.modules),
        "quotas": {} if caps is None else dict(caps.quotas),
        "created_at": key.created_at.isoformat(),
        "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat(),
    }


def invoice_json(invoice: Invoice) -> dict[str, Any]:
    """An invoice as JSON: money as decimal strings, times in ISO 8601 UTC (D15)."""
    return {
        "number": invoice.number,
        "status": str(invoice.status),
        "account_id": invoice.account_id,
        "plan": invoice.plan,
        "catalog": invoice.catalog,
        "currency": invoice.currency,
        "period": invoice.period_key,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "created_at": invoice.created_at.isoformat(),
        "total": str(invoice.total),
        "lines": [
            {
                "kind": line.kind,
                "description": line.description,
                "item": line.item,
                "quantity": str(line.quantity),
                "unit_price": str(line.unit_price),
                "amount": str(line.amount),
                "derivation": line.derivation,
            }
            for line in invoice.lines
        ],
        "wallet_spend": [
            {"operation": spent.operation, "quantity": spent.quantity, "amount": str(spent.amount)}
            for spent in invoice.wallet_spend
        ],
    }


__all__ = [
    "AccountListing",
    "CloseFailure",
    "api_key_json",
    "invoice_json",
    "rate_limit_headers",
    "refusal_body",
    "usage_json",
]
