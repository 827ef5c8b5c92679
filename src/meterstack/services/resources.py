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
from meterstack.rules.admission import ACCOUNT_SCOPE
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.rules.terms import (
    END_USER_KIND,
    PROJECT_KIND,
    AccountState,
    item_terms,
)
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.validation import validate_project
from meterstack.store.keys import project_key_ids, revoke_api_key
from meterstack.store.sql import Transaction

#: Resource counters are not per period: they hold the current count.
NO_PERIOD = ""


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
            resource_id = new_id(prefix)
            tx.insert_resource(
                resource_id, account_id, kind, now, project_id=project_id, name=name, active=active
            )
            if kind == PROJECT_KIND:
                self.ctx.changed(tx, account_id)
        return ResourceObject(resource_id, account_id, kind, project_id, name, active, False, now)

    def delete_resource(self, resource_id: str, *, account_id: str | None = None) -> None:
        """Delete an object; its slot is free at once.

        With ``account_id``, an object of another account is not found (404).
        """
        with self.ctx.store.transaction() as tx:
            row = tx.resource(resource_id)
            if row is None or (account_id is not None and row[1] != account_id):
                raise NotFoundError(f"no resource {resource_id!r}", resource_id=resource_id)
            account_id, kind, active = row[1], row[2], row[6]
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            tx.delete_resource(resource_id)
            for counted in _counted_kinds(catalog, kind, active):
                tx.adjust(account_id, counted, ACCOUNT_SCOPE, NO_PERIOD, d_used=-1)
            if kind == PROJECT_KIND:
                # A deleted project's keys stop working and free their slots.
                for key_id in project_key_ids(tx, resource_id):
                    if revoke_api_key(tx, key_id, self.ctx.now()):
                        key_row = tx.resource(key_id)
                        if key_row is not None:
                            tx.delete_resource(key_id)
                            for counted in _counted_kinds(catalog, key_row[2], key_row[6]):
                                tx.adjust(account_id, counted, ACCOUNT_SCOPE, NO_PERIOD, d_used=-1)
                self.ctx.changed(tx, account_id)

    def resources(self, account_id: str, kind: str | None = None) -> list[ResourceObject]:
        """The account's objects, oldest first (D13)."""
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            params: dict[str, object] = {"account_id": account_id}
            where = "account_id = :account_id"
            if kind is not None:
                params["kind"] = kind
                where += " AND kind = :kind"
            rows = tx.all(
                "SELECT id, account_id, kind, project_id, end_user_id, name, active, read_only, "
                f"created_at FROM resources WHERE {where} ORDER BY created_at, id",
                params,
            )
            return [
                ResourceObject(
                    id=row[0],
                    account_id=row[1],
                    kind=row[2],
                    project_id=row[3],
                    name=row[5],
                    active=bool(row[6]),
                    read_only=bool(row[7]),
                    created_at=tx.dialect.from_ts(row[8]),
                )
                for row in rows
            ]

    def set_active(self, resource_id: str, active: bool) -> ResourceObject:
        """Activate or deactivate an object; activating checks its active limit (D12)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            row = _resource_row(tx, resource_id)
            state = self.ctx.state(tx, row.account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            if row.active != active:
                subsets = _counted_kinds(catalog, row.kind, True)[1:]
                for kind in subsets:
                    if active:
                        refusal = _count(tx, catalog, state, kind, now)
                        if refusal is not None:
                            raise refused(refusal)
                    else:
                        tx.adjust(row.account_id, kind, ACCOUNT_SCOPE, NO_PERIOD, d_used=-1)
                tx.execute(
                    "UPDATE resources SET active = :active WHERE id = :id",
                    {"active": active, "id": resource_id},
                )
            return replace(row, active=active)

    def set_read_only(self, resource_id: str, read_only: bool) -> ResourceObject:
        """Mark an object read-only (its data kept, writes refused) or writable again (D13)."""
        with self.ctx.store.transaction() as tx:
            row = _resource_row(tx, resource_id)
            tx.execute(
                "UPDATE resources SET read_only = :read_only WHERE id = :id",
                {"read_only": read_only, "id": resource_id},
            )
            return replace(row, read_only=read_only)

    def check_write(self, resource_id: str) -> Decision:
        """Whether an object may be written: 403 ``read_only`` past a downgrade's limits (D13)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            row = _resource_row(tx, resource_id)
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
    tx: Transaction,
    catalog: Catalog,
    state: AccountState,
    kind: str,
    now: datetime,
    *,
    active: bool = True,
) -> None:
    """Count one more object of ``kind`` (and its active subsets, D12) within the limits.

    Raises :class:`RefusedError` (429 ``limit_exceeded`` or the item's status) past a limit;
    the caller's transaction then rolls back, so nothing is counted.
    """
    for counted in _counted_kinds(catalog, kind, active):
        refusal = _count(tx, catalog, state, counted, now)
        if refusal is not None:
            raise refused(refusal)


def _count(
    tx: Transaction, catalog: Catalog, state: AccountState, kind: str, now: datetime
) -> Decision | None:
    """Count one more ``kind``; the refusal when the limit is reached."""
    if kind not in catalog.resources:
        tx.adjust(state.account_id, kind, ACCOUNT_SCOPE, NO_PERIOD, d_used=1)
        return None
    terms = item_terms(catalog, state, kind)
    after = tx.increment(
        state.account_id, kind, ACCOUNT_SCOPE, NO_PERIOD, d_used=1, bound=terms.limit
    )
    if after is not None:
        return None
    current = tx.totals(state.account_id, kind, ACCOUNT_SCOPE, NO_PERIOD)
    return Decision(
        allowed=False,
        code=DecisionCode.LIMIT_EXCEEDED,
        http_status=terms.refusal_status,
        meter=kind,
        quantity=1,
        used=current.used,
        held=0,
        limit=terms.limit,
        hard_limit=terms.limit,
        remaining=0,
        overage_units=0,
        warnings=(),
        as_of=now,
        period=NO_PERIOD,
        scope=ACCOUNT_SCOPE,
        message=f"{kind}: {current.used} of {terms.limit} already exist; "
        "delete one or upgrade to create more",
    )


def _resource_row(tx: Transaction, resource_id: str) -> ResourceObject:
    row = tx.resource(resource_id)
    if row is None:
        raise NotFoundError(f"no resource {resource_id!r}", resource_id=resource_id)
    return ResourceObject(
        id=row[0],
        account_id=row[1],
        kind=row[2],
        project_id=row[3],
        name=row[5],
        active=row[6],
        read_only=row[7],
        created_at=row[8],
    )


def _counted_kinds(catalog: Catalog, kind: str, active: bool) -> list[str]:
    """The counters one object of ``kind`` occupies: its own, and active subsets (D12)."""
    kinds = [kind]
    if active:
        kinds += [
            other for other, resource in catalog.resources.items() if resource.subset_of == kind
        ]
    return kinds
