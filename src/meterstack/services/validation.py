"""Input checks shared by the services: bad input is a precise error that changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meterstack.bounds import MAX_QUANTITY, check_range
from meterstack.catalog.schema import Catalog, Feature
from meterstack.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    NulCharacterError,
)
from meterstack.rules.terms import AccountState
from meterstack.services.events import UsageEvent
from meterstack.store.ports import UnitOfWork

MAX_IDEMPOTENCY_KEY = 255
#: The most features one metered request may require.
MAX_REQUIRED = 32


def validate_meter(catalog: Catalog, meter: str) -> None:
    if meter in catalog.meters:
        return
    item = catalog.items.get(meter)
    if item is not None:
        raise InvalidInputError(
            f"{meter!r} is a {item.kind}, not a meter: it is not consumed per period",
            meter=meter,
        )
    raise InvalidInputError(
        f"unknown meter {meter!r}; catalog {catalog.catalog!r} meters: "
        + ", ".join(sorted(catalog.meters)),
        meter=meter,
    )


def validate_feature(catalog: Catalog, feature: str) -> Feature:
    """The catalog's declaration of ``feature``; a precise error when it has none."""
    declared = catalog.features.get(feature)
    if declared is None:
        raise InvalidInputError(
            f"unknown feature {feature!r}; catalog {catalog.catalog!r} features: "
            + ", ".join(catalog.features),
            feature=feature,
        )
    return declared


def validate_required(catalog: Catalog, requires: Any) -> tuple[str, ...]:
    """The features a metered request requires (``requires=``), in order and once each; a
    precise error for anything but a list of the catalog's feature names."""
    if isinstance(requires, str | bytes) or not isinstance(requires, Sequence):
        raise InvalidInputError(f"requires must be a list of feature names, got {requires!r}"[:200])
    if len(requires) > MAX_REQUIRED:
        raise InvalidInputError(f"requires may name at most {MAX_REQUIRED} features")
    names: list[str] = []
    for name in requires:
        if not isinstance(name, str):
            raise InvalidInputError(f"a required feature must be a name, got {name!r}"[:200])
        if name not in names:
            names.append(name)
    for name in names:
        validate_feature(catalog, name)
    return tuple(names)


def validate_item(catalog: Catalog, item: str) -> None:
    if item not in catalog.items:
        raise InvalidInputError(
            f"unknown item {item!r}; catalog {catalog.catalog!r} items: "
            + ", ".join(sorted(catalog.items)),
            item=item,
        )


def validate_quantity(catalog: Catalog, meter: str, quantity: Any) -> None:
    """A quantity is a whole number of the meter's units, greater than zero."""
    whole = isinstance(quantity, int) and not isinstance(quantity, bool)
    if not whole or quantity <= 0:
        unit = catalog.items[meter].unit
        raise InvalidInputError(
            f"quantity must be a whole number of {unit}s greater than 0, got {quantity!r}",
            meter=meter,
            quantity=str(quantity)[:40],
        )
    if quantity > MAX_QUANTITY:
        check_range("quantity", quantity, 1)


def validate_project(state: AccountState, project_id: str | None) -> None:
    if project_id is not None and project_id not in state.projects:
        raise NotFoundError(
            f"account {state.account_id} has no project {project_id!r}",
            account_id=state.account_id,
            project_id=project_id,
        )


def validate_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInputError(
            f"idempotency_key must be a string of 1 to {MAX_IDEMPOTENCY_KEY} characters",
            idempotency_key=str(key)[:40],
        )
    if "\x00" in key:
        raise NulCharacterError(
            "idempotency_key must not contain a NUL character (\\x00)", field="idempotency_key"
        )
    return key


def key_quota(
    tx: UnitOfWork, state: AccountState, event: UsageEvent, *, hold: bool = False
) -> tuple[str, int] | None:
    """The requesting API key's own quota on the meter (A8), after checking the key."""
    if event.api_key_id is None:
        return None
    row = tx.keys.get(event.api_key_id)
    if row is None or row.account_id != state.account_id:
        raise NotFoundError(
            f"account {state.account_id} has no API key {event.api_key_id!r}",
            api_key_id=event.api_key_id,
        )
    if row.revoked_at is not None:
        raise AuthenticationError(f"API key {row.id} was revoked", api_key_id=row.id)
    quota = (row.quotas or {}).get(event.meter)
    if quota is None:
        return None
    if hold:
        raise InvalidInputError("holds are not taken against an API key's own quota")
    return row.id, quota
