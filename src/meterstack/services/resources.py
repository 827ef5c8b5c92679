"""Counted objects: projects, end users and the other resource kinds of a catalog (A10, D12).

Creating one admits it by the same conditional increment as a meter: the count of its kind (and
of every kind it is a subset of, D12) may not pass the limit, so counts stay exact under
concurrency (A10).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from meterstack.catalog.schema import (
    Catalog,
)
from meterstack.errors import (
    InvalidInputError,
    NotFoundError,
    RefusedError,
)
from meterstack.records.audit import PYTHON, Actor
from meterstack.rules.admission import ACCOUNT_SCOPE, Step, Totals
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.rules.periods import NO_PERIOD
from meterstack.rules.terms import (
    END_USER_KIND,
    PROJECT_KIND,
    AccountState,
    item_terms,
)
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.validation import validate_project
from meterstack.store.ports import Admission, Applied, Refused, UnitOfWork
from meterstack.store.rows import ResourceRow


@dataclass(frozen=True)
class ResourceObject:
    """A counted object (D13): a project, a member, an API key…"""

    id: str
    account_id: str
    kind: str
    project_id: str | None
    name: str | None
    active: bool
    read_only: bool
    created_at: datetime


class Resources:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def create_resource(
        self,
        account_id: str,
        kind: str,
        *,
        project_id: str | None = None,
        name: str | None = None,
        active: bool = True,
    ) -> ResourceObject:
        """Create one object of ``kind``; refused past the plan's limit (A10, D12)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            if kind not in (PROJECT_KIND, END_USER_KIND) and kind not in catalog.resources:
                raise InvalidInputError(
                    f"unknown resource kind {kind!r}; catalog {catalog.catalog!r} resources: "
                    + ", ".join(sorted(catalog.resources)),
                    kind=kind,
                )
            validate_project(state, project_id)
            admit_resource(tx, catalog, state, kind, now, active=active)
            prefix = {PROJECT_KIND: "proj", END_USER_KIND: "user"}.get(kind, "res")
            row = ResourceRow(
                new_id(prefix), account_id, kind, project_id, None, name, active, False, now
            )
            tx.resources.insert(row)
            if kind == PROJECT_KIND:
                self.ctx.changed(tx, account_id)
        return object_of(row)

    def delete_resource(self, resource_id: str, *, account_id: str | None = None) -> None:
        """Delete an object; its slot is free at once.

        With ``account_id``, an object of another account is not found (404).
        """
        with self.ctx.store.transaction() as tx:
            row = tx.resources.get(resource_id)
            if row is None or (account_id is not None and row.account_id != account_id):
                raise NotFoundError(f"no resource {resource_id!r}", resource_id=resource_id)
            state = self.ctx.state(tx, row.account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            release_resource(tx, catalog, row)
            if row.kind == PROJECT_KIND:
                # A deleted project's keys stop working and free their slots.
                for key_id in tx.keys.of_project(resource_id):
                    if tx.keys.revoke(key_id, self.ctx.now()):
                        key_row = tx.resources.get(key_id)
                        if key_row is not None:
                            release_resource(tx, catalog, key_row)
                self.ctx.changed(tx, row.account_id)

    def resources(self, account_id: str, kind: str | None = None) -> list[ResourceObject]:
        """The account's objects, oldest first (D13)."""
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            return [object_of(row) for row in tx.resources.of_account(account_id, kind)]

    def set_active(
        self, resource_id: str, active: bool, *, actor: Actor = PYTHON
    ) -> ResourceObject:
        """Activate or deactivate an object; activating checks its active limit (D12)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            row = _resource_row(tx, resource_id)
            state = self.ctx.state(tx, row.account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            if row.active != active:
                subsets = _counted_kinds(catalog, row.kind, True)[1:]
                if active:
                    admit_kinds(tx, catalog, state, subsets, now)
                elif subsets:
                    _uncount(tx, row.account_id, subsets)
                tx.resources.set_active(resource_id, active)
                record(
                    tx,
                    now,
                    actor,
                    row.account_id,
                    "resource.activated",
                    before={"resource_id": row.id, "kind": row.kind, "active": row.active},
                    after={"resource_id": row.id, "kind": row.kind, "active": active},
                )
            return replace(object_of(row), active=active)

    def set_read_only(
        self, resource_id: str, read_only: bool, *, actor: Actor = PYTHON
    ) -> ResourceObject:
        """Mark an object read-only (its data kept, writes refused) or writable again (D13)."""
        with self.ctx.store.transaction() as tx:
            row = _resource_row(tx, resource_id)
            tx.resources.set_read_only(resource_id, read_only)
            if row.read_only != read_only:
                record(
                    tx,
                    self.ctx.now(),
                    actor,
                    row.account_id,
                    "resource.read_only",
                    before={"resource_id": row.id, "kind": row.kind, "read_only": row.read_only},
                    after={"resource_id": row.id, "kind": row.kind, "read_only": read_only},
                )
            return replace(object_of(row), read_only=read_only)

    def check_write(self, resource_id: str) -> Decision:
        """Whether an object may be written: 403 ``read_only`` past a downgrade's limits (D13)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            row = object_of(_resource_row(tx, resource_id))
        code, status = (DecisionCode.READ_ONLY, 403) if row.read_only else (DecisionCode.OK, 200)
        message = (
            f"{row.kind} {row.id} is read-only: it is beyond the plan's limit; its data is kept, "
            "and an upgrade makes it writable again"
            if row.read_only
            else f"{row.kind} {row.id} is writable"
        )
        return Decision.unmetered(
            allowed=not row.read_only,
            code=code,
            http_status=status,
            subject=row.kind,
            as_of=now,
            scope=ACCOUNT_SCOPE,
            message=message,
            extra={"resource_id": row.id},
        )


def refused(decision: Decision) -> RefusedError:
    """The error carrying a refusal, with the seed's ``current_usage`` and ``limit`` (C5)."""
    details = decision.refusal_details()
    return RefusedError(
        str(decision.code),
        decision.http_status,
        decision.message,
        current_usage=details["current_usage"],
        limit=details["limit"],
        decision=decision.to_dict(),
    )


def admit_resource(
    tx: UnitOfWork,
    catalog: Catalog,
    state: AccountState,
    kind: str,
    now: datetime,
    *,
    active: bool = True,
) -> None:
    """Count one more object of ``kind`` (and its active subsets, D12) within the limits.

    Raises :class:`RefusedError` (429 ``limit_exceeded`` or the item's status) past a limit;
    nothing is counted then, and the caller's transaction rolls back.
    """
    admit_kinds(tx, catalog, state, _counted_kinds(catalog, kind, active), now)


def admit_kinds(
    tx: UnitOfWork, catalog: Catalog, state: AccountState, kinds: list[str], now: datetime
) -> None:
    """One more of each of ``kinds``, all within their limits or none (A10)."""
    if not kinds:
        return
    steps = tuple(
        Step(
            kind,
            ACCOUNT_SCOPE,
            NO_PERIOD,
            1,
            0,
            item_terms(catalog, state, kind).limit if kind in catalog.resources else None,
        )
        for kind in kinds
    )
    outcome = tx.counters.apply(Admission.plain(state.account_id, steps))
    if isinstance(outcome, Refused):
        terms = item_terms(catalog, state, kinds[outcome.position])
        raise refused(
            _refusal(
                kinds[outcome.position], terms.limit, terms.refusal_status, outcome.totals, now
            )
        )


def release_resource(tx: UnitOfWork, catalog: Catalog, row: ResourceRow) -> None:
    """Delete an object and uncount it (and its active subsets): its slot is free at once."""
    tx.resources.delete(row.id)
    _uncount(tx, row.account_id, _counted_kinds(catalog, row.kind, row.active))


def _uncount(tx: UnitOfWork, account_id: str, kinds: list[str]) -> None:
    steps = tuple(Step(kind, ACCOUNT_SCOPE, NO_PERIOD, -1, 0) for kind in kinds)
    outcome = tx.counters.apply(Admission.plain(account_id, steps))
    assert isinstance(outcome, Applied), "every object is counted when it is created"


def _refusal(
    kind: str, limit: int | None, status: int, current: Totals[int], now: datetime
) -> Decision:
    return Decision(
        allowed=False,
        code=DecisionCode.LIMIT_EXCEEDED,
        http_status=status,
        meter=kind,
        quantity=1,
        used=current.used,
        held=0,
        limit=limit,
        hard_limit=limit,
        remaining=0,
        overage_units=0,
        warnings=(),
        as_of=now,
        period=NO_PERIOD,
        scope=ACCOUNT_SCOPE,
        message=f"{kind}: {current.used} of {limit} already exist; "
        "delete one or upgrade to create more",
    )


def object_of(row: ResourceRow) -> ResourceObject:
    return ResourceObject(
        id=row.id,
        account_id=row.account_id,
        kind=row.kind,
        project_id=row.project_id,
        name=row.name,
        active=row.active,
        read_only=row.read_only,
        created_at=row.created_at,
    )


def _resource_row(tx: UnitOfWork, resource_id: str) -> ResourceRow:
    row = tx.resources.get(resource_id)
    if row is None:
        raise NotFoundError(f"no resource {resource_id!r}", resource_id=resource_id)
    return row


def _counted_kinds(catalog: Catalog, kind: str, active: bool) -> list[str]:
    """The counters one object of ``kind`` occupies: its own, and active subsets (D12)."""
    kinds = [kind]
    if active:
        kinds += [
            other for other, resource in catalog.resources.items() if resource.subset_of == kind
        ]
    return kinds
