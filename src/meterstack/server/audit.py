"""The audit log under ``/v1/audit``: every billing change, newest first (operator only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from meterstack.records.audit import AuditEntry
from meterstack.server.auth import EngineDep, OperatorDep
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.operator import OPERATOR

router = APIRouter(prefix="/v1", route_class=DoorRoute)

AccountFilter = Annotated[str | None, Query(min_length=1, max_length=40)]
KindFilter = Annotated[str | None, Query(min_length=1, max_length=64)]
Before = Annotated[str | None, Query(min_length=1, max_length=18, pattern=r"^[0-9]+$")]
Limit = Annotated[int, Query(ge=1, le=200)]


class ActorOut(BaseModel):
    #: ``operator``, ``customer``, ``dashboard``, ``system`` or ``python``.
    kind: str
    #: Which one: the API key's id, the door an operator used, the session's handle…
    id: str | None


class AuditEntryOut(BaseModel):
    id: str
    #: Null for an operator-wide change (an endpoint for every account, a payout run).
    account_id: str | None
    kind: str
    actor: ActorOut
    reason: str | None
    at: str
    #: The changed part before and after the change (null when it did not exist).
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            account_id=entry.account_id,
            kind=entry.kind,
            actor=ActorOut(kind=entry.actor.kind, id=entry.actor.id),
            reason=entry.reason,
            at=entry.at.isoformat(),
            before=entry.before,
            after=entry.after,
        )


class AuditOut(BaseModel):
    entries: list[AuditEntryOut]
    #: Pass as ``before`` for the next (older) page; null at the oldest.
    next_before: str | None


@router.get("/audit", response_model=AuditOut, responses=errors(*OPERATOR, 404, 422))
def audit(
    _: OperatorDep,
    engine: EngineDep,
    account_id: AccountFilter = None,
    kind: KindFilter = None,
    before: Before = None,
    limit: Limit = 50,
) -> AuditOut:
    """Billing changes newest first, with who, when, before, after and why; filtered by
    account (404 for an unknown one) and kind (one, or a family: ``webhook.*``), ``limit``
    a page."""
    page = engine.audit(account_id=account_id, kind=kind, before=before, limit=limit)
    return AuditOut(
        entries=[AuditEntryOut.of(entry) for entry in page.entries], next_before=page.next_before
    )
