"""Recording a change in the audit log, and reading the log back.

:func:`record` is called by the service that makes a change, with the change's own unit of work
and at the point where the change is written: the entry commits with the change or not at all,
and a call that changes nothing (an idempotent replay, a second revocation) records nothing
because it never reaches that point. Every door (REST, CLI, dashboard, Python) goes through the
same services, so each of them is audited alike; the door says who it is by the ``actor`` it
hands the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from meterstack.bounds import page_cursor
from meterstack.errors import InvalidInputError, NotFoundError
from meterstack.records.audit import (
    FAMILY,
    MAX_KIND,
    Actor,
    AuditEntry,
    AuditPage,
    plain,
)
from meterstack.services.context import ServiceContext, new_id
from meterstack.store.ports import UnitOfWork

#: The most entries one page holds.
MAX_PAGE = 200


def record(
    tx: UnitOfWork,
    at: datetime,
    actor: Actor,
    account_id: str | None,
    kind: str,
    *,
    before: Mapping[str, Any] | object | None = None,
    after: Mapping[str, Any] | object | None = None,
) -> None:
    """Append one entry to the log in ``tx``: ``kind`` of change to ``account_id`` by ``actor``
    at ``at`` (``account_id`` None: an operator-wide change), with the changed part as it was
    and as it is (a mapping or a dataclass, kept as a JSON object; None when it did not
    exist). A call that left it as it was (the same limit set again, an override cleared that
    did not exist) changed nothing: no entry."""
    was, now = _object(before), _object(after)
    if was == now:
        return
    tx.audit.append(
        AuditEntry(
            id=new_id("aud"),
            account_id=account_id,
            kind=kind,
            actor=actor,
            at=at,
            before=was,
            after=now,
        )
    )


def price_state(target: str, value: str | None) -> dict[str, Any]:
    """An operator's price as the log keeps it: its target and its terms (None: the plan's)."""
    return {"target": target, "price": None if value is None else json.loads(value)}


def _object(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    kept = plain(value)
    if not isinstance(kept, dict):
        raise TypeError(f"the audit log keeps objects, got {type(value).__name__}")
    return kept


class AuditLog:
    """The operator's view of the log: newest first, by account and kind, a page at a time."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def entries(
        self,
        *,
        account_id: str | None = None,
        kind: str | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> AuditPage:
        """Entries newest first (in the order recorded); ``before`` is the previous page's
        ``next_before``. ``kind`` is one kind, or a family of them (``webhook.*``). An unknown
        account is 404."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be from 1 to {MAX_PAGE}", field="limit")
        if kind is not None and (not isinstance(kind, str) or not 0 < len(kind) <= MAX_KIND):
            raise InvalidInputError(f"kind is a text of 1 to {MAX_KIND} characters", field="kind")
        family = None
        if kind is not None and kind.endswith(FAMILY):
            family, kind = kind[: -len(FAMILY) + 1], None
            if family == ".":
                raise InvalidInputError("a family of kinds is named before .*", field="kind")
        position = None if before is None else page_cursor(before)
        with self.ctx.store.transaction() as tx:
            if account_id is not None and tx.accounts.version(account_id) is None:
                raise NotFoundError(f"no account {account_id!r}", account_id=account_id)
            rows = tx.audit.entries(
                account_id=account_id, kind=kind, family=family, before=position, limit=limit + 1
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return AuditPage([entry for _, entry in rows], str(rows[-1][0]) if more else None)
