"""The audit log from the SDK (operator key): ``client.audit(account_id=…, kind=…)``.

::

    page = operator.audit(account_id="acct_…", kind="plan.changed")
    for entry in page.entries:
        print(entry.at, entry.kind, entry.actor.kind, entry.reason, entry.before, entry.after)
    older = operator.audit(account_id="acct_…", before=page.next_before)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from meterstack.client._calls import Call


@dataclass(frozen=True)
class AuditActor:
    #: ``operator``, ``customer``, ``dashboard``, ``system`` or ``python``.
    kind: str
    id: str | None


@dataclass(frozen=True)
class AuditRecord:
    """One billing change: what, to which account, by whom, when, from what to what, why."""

    id: str
    #: None for an operator-wide change (an endpoint for every account, a payout run).
    account_id: str | None
    kind: str
    actor: AuditActor
    reason: str | None
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditRecord:
        actor = data["actor"]
        return cls(
            id=data["id"],
            account_id=data["account_id"],
            kind=data["kind"],
            actor=AuditActor(kind=actor["kind"], id=actor.get("id")),
            reason=data.get("reason"),
            at=datetime.fromisoformat(data["at"]),
            before=data.get("before"),
            after=data.get("after"),
        )


@dataclass(frozen=True)
class AuditLogPage:
    """Entries newest first; ``next_before`` reads the next (older) page, None at the oldest."""

    entries: list[AuditRecord]
    next_before: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditLogPage:
        return cls(
            entries=[AuditRecord.from_json(item) for item in data["entries"]],
            next_before=data.get("next_before"),
        )


def audit(
    account_id: str | None, kind: str | None, before: str | None, limit: int | None
) -> Call[AuditLogPage]:
    given = {
        name: value
        for name, value in (
            ("account_id", account_id),
            ("kind", kind),
            ("before", before),
            ("limit", limit),
        )
        if value is not None
    }
    path = f"/v1/audit?{urlencode(given)}" if given else "/v1/audit"
    return Call("GET", path, AuditLogPage.from_json, repeatable=True)
