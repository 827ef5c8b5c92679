"""The operator's levers on an account's terms (D14).

Overage switches, limits, features, prices, charges and packs granted; each change bumps the
account's version, so every engine applies it at once (C7).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from meterstack.bounds import MAX_GRACE_PERCENT, MAX_QUANTITY
from meterstack.catalog.schema import (
    UNLIMITED,
    Gauge,
    Meter,
    Overage,
    PlanPrice,
    Unlimited,
)
from meterstack.errors import (
    InvalidInputError,
    NotFoundError,
    OutOfRangeError,
    UpgradeRequiredError,
)
from meterstack.records.audit import PYTHON, Actor
from meterstack.rules.terms import (
    ACCOUNT_WIDE,
    ALL_ITEMS,
    CHARGE_MODEL,
    LimitOverride,
    plan_of,
)
from meterstack.services.audit.log import price_state, record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.validation import (
    validate_feature,
    validate_item,
    validate_meter,
    validate_project,
)


@dataclass(frozen=True)
class PackGrant:
    id: str
    account_id: str
    pack_id: str
    granted_at: datetime


class Levers:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def set_overage(
        self,
        account_id: str,
        enabled: bool,
        *,
        meter: str | None = None,
        project_id: str | None = None,
        actor: Actor = PYTHON,
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
            scope = (project_id or ACCOUNT_WIDE, meter or ALL_ITEMS)
            tx.accounts.set_switch(account_id, *scope, enabled)
            self.ctx.changed(tx, account_id)
            where = {"meter": meter, "project_id": project_id}
            record(
                tx,
                self.ctx.now(),
                actor,
                account_id,
                "overage.switched",
                before={**where, "enabled": state.switches.get(scope)},
                after={**where, "enabled": enabled},
            )

    def set_limit(
        self,
        account_id: str,
        item: str,
        limit: int | Unlimited | str | None,
        *,
        grace: Decimal | int | str | None = None,
        project_id: str | None = None,
        actor: Actor = PYTHON,
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
            tx.accounts.set_override(account_id, project_id or ACCOUNT_WIDE, item, override)
            self.ctx.changed(tx, account_id)
            where = {"item": item, "project_id": project_id}
            was = state.overrides.get((project_id or ACCOUNT_WIDE, item))
            record(
                tx,
                self.ctx.now(),
                actor,
                account_id,
                "limit.set",
                before={**where, "override": was},
                after={**where, "override": override},
            )

    def set_feature(
        self, account_id: str, feature: str, value: bool | str | None, *, actor: Actor = PYTHON
    ) -> None:
        """Give one account its own value of a feature (D14); None returns it to the plan's."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            declared = validate_feature(catalog, feature)
            if value is not None:
                if declared.levels is None and not isinstance(value, bool):
                    raise InvalidInputError(f"{feature!r} is on/off: give true or false")
                if declared.levels is not None and value not in declared.levels:
                    raise InvalidInputError(
                        f"{feature!r} has no level {value!r}; its levels: "
                        + ", ".join(declared.levels)
                    )
            tx.accounts.set_feature_override(account_id, feature, value)
            self.ctx.changed(tx, account_id)
            record(
                tx,
                self.ctx.now(),
                actor,
                account_id,
                "feature.set",
                before={"feature": feature, "value": state.features.get(feature)},
                after={"feature": feature, "value": value},
            )

    def set_price(
        self,
        account_id: str,
        *,
        monthly: Decimal | str | None = None,
        yearly: Decimal | str | None = None,
        clear: bool = False,
        actor: Actor = PYTHON,
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
        self._set_price(account_id, "fee", value, actor)

    def set_charge(
        self,
        account_id: str,
        item: str,
        charge: Mapping[str, Any] | None,
        *,
        kind: str = "overage",
        enabled: bool = False,
        actor: Actor = PYTHON,
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
        self._set_price(account_id, f"{kind}:{item}", value, actor)

    def _set_price(self, account_id: str, target: str, value: str | None, actor: Actor) -> None:
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            tx.accounts.set_price_override(account_id, target, value)
            self.ctx.changed(tx, account_id)
            record(
                tx,
                self.ctx.now(),
                actor,
                account_id,
                "price.set",
                before=price_state(target, dict(state.prices).get(target)),
                after=price_state(target, value),
            )

    def clear_limit(
        self,
        account_id: str,
        item: str,
        *,
        project_id: str | None = None,
        actor: Actor = PYTHON,
    ) -> None:
        """Remove an override: the plan's limit applies again."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            tx.accounts.clear_override(account_id, project_id or ACCOUNT_WIDE, item)
            self.ctx.changed(tx, account_id)
            where = {"item": item, "project_id": project_id}
            was = state.overrides.get((project_id or ACCOUNT_WIDE, item))
            record(
                tx,
                self.ctx.now(),
                actor,
                account_id,
                "limit.cleared",
                before={**where, "override": was},
                after={**where, "override": None},
            )

    def grant_pack(
        self, account_id: str, pack_id: str, *, source: str = "operator", actor: Actor = PYTHON
    ) -> PackGrant:
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
            tx.accounts.insert_pack(grant.id, account_id, pack_id, now, source)
            self.ctx.changed(tx, account_id)
            record(
                tx,
                now,
                actor,
                account_id,
                "pack.granted",
                before={"packs": state.packs},
                after={"packs": (*state.packs, pack_id), "grant_id": grant.id},
            )
        return grant


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
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidInputError(
            f"limit must be a whole number of at least 0 and at most {MAX_QUANTITY:,} "
            f'(10^15), or "unlimited", got {limit!r}'
        )
    if not 0 <= limit <= MAX_QUANTITY:
        raise OutOfRangeError(
            f"limit must be a whole number of at least 0 and at most {MAX_QUANTITY:,} "
            f'(10^15), or "unlimited", got {limit!r}'[:300],
            field="limit",
        )
    return limit


def _grace_value(grace: Any) -> Decimal | None:
    if grace is None:
        return None
    try:
        value = Decimal(str(grace))
    except InvalidOperation:
        value = Decimal(-1)
    if isinstance(grace, float | bool) or not value.is_finite() or value < 0:
        raise InvalidInputError(
            f"grace must be a percentage from 0 to {MAX_GRACE_PERCENT}, got {grace!r}"[:300]
        )
    if value > MAX_GRACE_PERCENT:
        raise OutOfRangeError(
            f"grace must be a percentage from 0 to {MAX_GRACE_PERCENT}, got {grace!r}"[:300],
            field="grace",
        )
    return value
