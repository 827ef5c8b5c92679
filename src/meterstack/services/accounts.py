"""Accounts, projects and counted resources, and the operator's levers on an account's terms.

Creating a resource admits it by the same conditional increment as a meter: the count of its
kind (and of every kind it is a subset of, D12) may not pass the limit, so counts stay exact
under concurrency (A10). Every change of an account's terms bumps its version (C7).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from meterstack.catalog.schema import (
    UNLIMITED,
    Catalog,
    Gauge,
    Meter,
    Overage,
    PlanPrice,
    Unlimited,
)
from meterstack.errors import (
    EmailTakenError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
    UpgradeRequiredError,
)
from meterstack.invoicing.issue import fee_line, issue_invoice
from meterstack.rules.admission import ACCOUNT_SCOPE
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.rules.features import decide_feature
from meterstack.rules.periods import period_for
from meterstack.rules.terms import (
    ACCOUNT_WIDE,
    ALL_ITEMS,
    CHARGE_MODEL,
    END_USER_KIND,
    PROJECT_KIND,
    AccountState,
    LimitOverride,
    item_terms,
    plan_of,
)
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.registration import checked_email
from meterstack.services.validation import validate_item, validate_meter, validate_project
from meterstack.store.keys import email_taken, project_key_ids, revoke_api_key
from meterstack.store.sql import AccountRow, Transaction

#: Resource counters are not per period: they hold the current count.
NO_PERIOD = ""


@dataclass(frozen=True)
class Account:
    id: str
    plan: str
    billing_interval: str
    status: str
    catalog: str
    catalog_version: int
    created_at: datetime
    anonymous: bool
    email: str | None = None
    name: str | None = None


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


@dataclass(frozen=True)
class PackGrant:
    id: str
    account_id: str
    pack_id: str
    granted_at: datetime


class Accounts:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ accounts

    def create_account(
        self,
        plan: str | None = None,
        *,
        interval: str = "monthly",
        email: str | None = None,
        name: str | None = None,
        anonymous: bool = False,
    ) -> Account:
        loaded = self.ctx.current
        catalog = loaded.catalog
        plan_id = plan or catalog.default_plan
        if plan_id not in catalog.plan_ids:
            raise InvalidInputError(
                f"unknown plan {plan_id!r}; catalog {catalog.catalog!r} plans: "
                + ", ".join(catalog.plan_ids),
                plan=plan_id,
            )
        if interval not in catalog.policies.intervals:
            raise InvalidInputError(
                f"billing interval {interval!r} is not offered; choose one of "
                + ", ".join(catalog.policies.intervals),
                interval=interval,
            )
        if email is not None:
            email = checked_email(email)
        now = self.ctx.now()
        row = AccountRow(
            id=new_id("acct"),
            catalog_hash=loaded.content_hash,
            plan_id=plan_id,
            billing_interval=interval,
            status="active",
            period_anchor=now,
            created_at=now,
            version=1,
            anonymous=anonymous,
            email=email,
            name=name,
        )
        with self.ctx.store.transaction() as tx:
            if email is not None and email_taken(tx, email):
                raise EmailTakenError(
                    f"an account with the email {email!r} already exists", email=email
                )
            tx.insert_account(row)
            # D10: the first period's fee is invoiced in advance, when the subscription starts.
            period = period_for(catalog.policies.period, now, now)
            line = fee_line(
                catalog,
                catalog.plan(plan_id),
                interval,
                period,
                since=now,
                label=" (first period)",
            )
            if line is not None:
                issue_invoice(
                    tx,
                    account_id=row.id,
                    kind="opening",
                    catalog=catalog,
                    plan_id=plan_id,
                    period=period,
                    lines=[line],
                    now=now,
                    key=period.key,
                )
        return account_of(row, catalog)

    def account(self, account_id: str) -> Account:
        with self.ctx.store.transaction() as tx:
            row = tx.account(account_id)
            if row is None:
                raise NotFoundError(f"no account {account_id!r}", account_id=account_id)
            return account_of(row, self.ctx.catalog(tx, row.catalog_hash))

    # ------------------------------------------------------------------ resources

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

    # ------------------------------------------------------------------ features

    def require_feature(self, account_id: str, feature: str, level: str | None = None) -> Decision:
        """Whether the account's tier grants ``feature`` (at ``level``): A8, A12, C3, D4."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
        declared = catalog.features.get(feature)
        if declared is None:
            raise InvalidInputError(
                f"unknown feature {feature!r}; catalog {catalog.catalog!r} features: "
                + ", ".join(catalog.features),
                feature=feature,
            )
        if level is not None and level not in (declared.levels or ()):
            levels = ", ".join(declared.levels) if declared.levels else "none: it is on/off"
            raise InvalidInputError(
                f"{feature!r} has no level {level!r}; its levels: {levels}", feature=feature
            )
        verdict = decide_feature(
            catalog, state.plan_id, feature, level, state.features.get(feature)
        )
        return Decision.unmetered(
            allowed=verdict.allowed,
            code=DecisionCode(verdict.code),
            http_status=verdict.http_status,
            subject=feature,
            as_of=now,
            scope=ACCOUNT_SCOPE,
            message=verdict.message,
            extra={
                "feature": feature,
                "level": level,
                "plan": state.plan_id,
                "plan_level": verdict.plan_value,
                "upgrade_to": verdict.upgrade_to,
            },
        )

    # ------------------------------------------------------------------ operator levers

    def set_overage(
        self,
        account_id: str,
        enabled: bool,
        *,
        meter: str | None = None,
        project_id: str | None = None,
    ) -> None:
        """Turn overage on or off for the account or one project, for one meter or all (A5, D3)."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            plan = plan_of(catalog, state)
            if enabled and not plan.payments:
                raise UpgradeRequiredError(
                    f"the {plan.name} plan has no payments, so overage cannot be turned on; "
                    "upgrade to a paid plan first",
                    plan=plan.id,
                )
            if meter is not None:
                validate_item(catalog, meter)
                if meter not in plan.overage:
                    raise InvalidInputError(
                        f"the {plan.name} plan offers no overage on {meter!r}"
                        + (f"; it does on {', '.join(plan.overage)}" if plan.overage else ""),
                        meter=meter,
                        plan=plan.id,
                    )
            elif enabled and not plan.overage:
                raise InvalidInputError(
                    f"the {plan.name} plan offers no overage on any item", plan=plan.id
                )
            validate_project(state, project_id)
            tx.set_switch(account_id, project_id or ACCOUNT_WIDE, meter or ALL_ITEMS, enabled)
            self.ctx.changed(tx, account_id)

    def set_limit(
        self,
        account_id: str,
        item: str,
        limit: int | Unlimited | str | None,
        *,
        grace: Decimal | int | str | None = None,
        project_id: str | None = None,
    ) -> None:
        """An operator's override of one item's limit and grace (D14); None = unlimited."""
        override = LimitOverride(limit=_limit_value(limit), grace_percent=_grace_value(grace))
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            validate_item(catalog, item)
            declared = catalog.items[item]
            if override.grace_percent is not None and not isinstance(declared, Meter | Gauge):
                raise InvalidInputError(
                    f"grace applies to meters and gauges only, and {item!r} is a {declared.kind}",
                    item=item,
                )
            if project_id is not None:
                validate_meter(catalog, item)
                validate_project(state, project_id)
            tx.set_override(account_id, project_id or ACCOUNT_WIDE, item, override)
            self.ctx.changed(tx, account_id)

    def set_feature(self, account_id: str, feature: str, value: bool | str | None) -> None:
        """Give one account its own value of a feature (D14); None returns it to the plan's."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            declared = catalog.features.get(feature)
            if declared is None:
                raise InvalidInputError(
                    f"unknown feature {feature!r}; catalog {catalog.catalog!r} features: "
                    + ", ".join(catalog.features),
                    feature=feature,
                )
            if value is not None:
                if declared.levels is None and not isinstance(value, bool):
                    raise InvalidInputError(f"{feature!r} is on/off: give true or false")
                if declared.levels is not None and value not in declared.levels:
                    raise InvalidInputError(
                        f"{feature!r} has no level {value!r}; its levels: "
                        + ", ".join(declared.levels)
                    )
            tx.set_feature_override(account_id, feature, value)
            self.ctx.changed(tx, account_id)

    def set_price(
        self,
        account_id: str,
        *,
        monthly: Decimal | str | None = None,
        yearly: Decimal | str | None = None,
        clear: bool = False,
    ) -> None:
        """An operator's subscription price for one account (D14: enterprise contracts)."""
        value = None
        if not clear:
            if monthly is None:
                raise InvalidInputError("give the monthly price (and optionally the yearly one)")
            value = _validated(
                PlanPrice,
                {"monthly": str(monthly), "yearly": None if yearly is None else str(yearly)},
            )
        self._set_price(account_id, "fee", value)

    def set_charge(
        self,
        account_id: str,
        item: str,
        charge: Mapping[str, Any] | None,
        *,
        kind: str = "overage",
        enabled: bool = False,
    ) -> None:
        """An operator's overage or usage price of one item for one account (D14).

        ``charge`` is a charge model as the catalog writes it
        (``{"model": "per_block", "price": "0.40", "per": 1000}``); None removes the override.
        """
        if kind not in {"overage", "usage"}:
            raise InvalidInputError(f"kind must be 'overage' or 'usage', got {kind!r}")
        value = None
        if charge is not None:
            if kind == "overage":
                value = _validated(Overage, {"enabled": enabled, "charge": dict(charge)})
            else:
                try:
                    value = CHARGE_MODEL.dump_json(
                        CHARGE_MODEL.validate_python(dict(charge))
                    ).decode()
                except ValidationError as error:
                    raise InvalidInputError(f"invalid charge model: {_first(error)}") from None
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            validate_item(self.ctx.catalog(tx, state.catalog_hash), item)
        self._set_price(account_id, f"{kind}:{item}", value)

    def _set_price(self, account_id: str, target: str, value: str | None) -> None:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            tx.set_price_override(account_id, target, value)
            self.ctx.changed(tx, account_id)

    def clear_limit(self, account_id: str, item: str, *, project_id: str | None = None) -> None:
        """Remove an override: the plan's limit applies again."""
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            tx.clear_override(account_id, project_id or ACCOUNT_WIDE, item)
            self.ctx.changed(tx, account_id)

    def grant_pack(self, account_id: str, pack_id: str, *, source: str = "operator") -> PackGrant:
        """Add a pack's permanent capacity to the account (A6, D11)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            if pack_id not in catalog.packs:
                raise NotFoundError(
                    f"unknown pack {pack_id!r}; catalog {catalog.catalog!r} packs: "
                    + ", ".join(catalog.packs),
                    pack_id=pack_id,
                )
            grant = PackGrant(new_id("pack"), account_id, pack_id, now)
            tx.insert_pack(grant.id, account_id, pack_id, now, source)
            self.ctx.changed(tx, account_id)
        return grant


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


def _validated(model: type[PlanPrice] | type[Overage], data: dict[str, Any]) -> str:
    try:
        return model.model_validate(data).model_dump_json()
    except ValidationError as error:
        raise InvalidInputError(f"invalid price: {_first(error)}") from None


def _first(error: ValidationError) -> str:
    detail = error.errors()[0]
    where = ".".join(str(part) for part in detail["loc"])
    return f"{where}: {detail['msg']}" if where else str(detail["msg"])


def _limit_value(limit: Any) -> int | None:
    if limit is None or limit is UNLIMITED or limit == "unlimited":
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidInputError(
            f'limit must be a whole number of at least 0 or "unlimited", got {limit!r}'
        )
    return limit


def _grace_value(grace: Any) -> Decimal | None:
    if grace is None:
        return None
    try:
        value = Decimal(str(grace))
    except InvalidOperation:
        value = Decimal(-1)
    if isinstance(grace, float | bool) or not value.is_finite() or not 0 <= value <= 1000:
        raise InvalidInputError(f"grace must be a percentage from 0 to 1000, got {grace!r}")
    return value


def account_of(row: AccountRow, catalog: Catalog) -> Account:
    """The public view of an account row."""
    return Account(
        id=row.id,
        plan=row.plan_id,
        billing_interval=row.billing_interval,
        status=row.status,
        catalog=catalog.catalog,
        catalog_version=catalog.version,
        created_at=row.created_at,
        anonymous=row.anonymous,
        email=row.email,
        name=row.name,
    )
