"""The operator's door to invoice collection and dunning (D29): an account's collections with
every attempt, and a retry of one invoice now."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from meterstack.money import format_money
from meterstack.records.collections import CollectionAttempt
from meterstack.server.auth import EngineDep, OperatorDep
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.operator import OPERATOR, PATH
from meterstack.services.collections.service import CollectionView

router = APIRouter(prefix="/v1", route_class=DoorRoute)


class CollectionAttemptOut(BaseModel):
    number: int
    #: The idempotency key the provider was given: the invoice number and the attempt number.
    key: str
    #: ``pending``, ``paid`` or ``failed``.
    status: str
    reason: str | None
    started_at: str
    settled_at: str | None
    worker: str

    @classmethod
    def of(cls, attempt: CollectionAttempt) -> CollectionAttemptOut:
        return cls(
            number=attempt.number,
            key=attempt.key,
            status=str(attempt.status),
            reason=attempt.reason,
            started_at=attempt.started_at.isoformat(),
            settled_at=_iso(attempt.settled_at),
            worker=attempt.worker,
        )


class CollectionOut(BaseModel):
    invoice_number: str
    account_id: str
    #: ``due``, ``past_due``, ``fallback``, ``paid`` or ``closed``.
    status: str
    amount: str
    currency: str
    #: Attempts made so far.
    attempts_made: int
    #: When the next attempt is due; null when nothing more will be tried.
    next_attempt_at: str | None
    first_failed_at: str | None
    last_reason: str | None
    fallback_at: str | None
    #: The plan paying the invoice brings back after a fallback.
    restore_plan: str | None
    created_at: str
    settled_at: str | None
    attempts: list[CollectionAttemptOut]

    @classmethod
    def of(cls, view: CollectionView) -> CollectionOut:
        found = view.collection
        return cls(
            invoice_number=found.invoice_number,
            account_id=found.account_id,
            status=str(found.status),
            amount=format_money(found.amount, found.currency),
            currency=found.currency,
            attempts_made=found.attempts,
            next_attempt_at=_iso(found.next_attempt_at),
            first_failed_at=_iso(found.first_failed_at),
            last_reason=found.last_reason,
            fallback_at=_iso(found.fallback_at),
            restore_plan=found.restore_plan,
            created_at=found.created_at.isoformat(),
            settled_at=_iso(found.settled_at),
            attempts=[CollectionAttemptOut.of(attempt) for attempt in view.attempts],
        )


class CollectionsOut(BaseModel):
    collections: list[CollectionOut]


@router.get(
    "/accounts/{account_id}/collections",
    response_model=CollectionsOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def collections(account_id: str, _: OperatorDep, engine: EngineDep) -> CollectionsOut:
    """The account's collections, oldest first, each with its attempts (D29)."""
    views = engine.collections.of_account(account_id)
    return CollectionsOut(collections=[CollectionOut.of(view) for view in views])


@router.post(
    "/invoices/{number}/collect",
    response_model=CollectionOut,
    responses=errors(*OPERATOR, *PATH, 404, 409),
)
def collect(number: str, _: OperatorDep, engine: EngineDep) -> CollectionOut:
    """Attempt to collect the invoice now, whatever dunning's schedule says (also after its
    last attempt failed); paying it ends dunning and restores the plan. 409 when nothing is
    owed, the account cannot be charged off-session, or an attempt is in flight; 503 without
    a payment provider."""
    return CollectionOut.of(engine.collections.collect(number))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
