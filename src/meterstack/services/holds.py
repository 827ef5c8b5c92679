"""Holds (D6): units reserved against the limits, then committed, released, or lapsed (C6).

A hold counts in ``held`` of every scope it touches while it is open. Committing moves the actual
quantity to ``used`` unconditionally (the work already happened): more than held is recorded past
the limit, flagged, and is overage where overage is on. A hold past its expiry releases itself:
the next request that meets a bound sweeps the account's lapsed holds, and a commit after expiry
is refused with 409 ``reservation_expired``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from meterstack.catalog.schema import Catalog
from meterstack.errors import (
    InvalidInputError,
    NotFoundError,
    ReservationClosedError,
    ReservationExpiredError,
)
from meterstack.rules.admission import (
    ACCOUNT_SCOPE,
    Totals,
    classify_admitted,
    overage_delta,
    plan_request,
    project_scope,
)
from meterstack.rules.decisions import Decision
from meterstack.services.conflicts import decided_again_on_conflict
from meterstack.services.context import ServiceContext, new_id
from meterstack.store.sql import ReservationRow, Transaction

#: The longest a hold lives when neither the caller nor the meter says otherwise.
DEFAULT_HOLD_SECONDS = 300


@dataclass(frozen=True)
class Reservation:
    """A hold on a meter; ``id`` is None when the hold was refused (see ``decision``)."""

    id: str | None
    account_id: str
    meter: str
    quantity: int
    project_id: str | None
    status: str
    expires_at: datetime | None
    #: The decision that placed (or refused) the hold; None when read back later.
    decision: Decision | None

    @property
    def allowed(self) -> bool:
        return self.id is not None


def hold_scopes(project_id: str | None) -> tuple[str, ...]:
    """The counters a hold or a consumption touches, in lock order."""
    if project_id:
        return (ACCOUNT_SCOPE, project_scope(project_id))
    return (ACCOUNT_SCOPE,)


def hold_ttl(catalog: Catalog, meter: str, ttl: timedelta | None) -> timedelta:
    """The requested time to live, capped by the meter's longest hold (C6)."""
    longest = catalog.meters[meter].max_hold_seconds
    if ttl is not None and ttl <= timedelta(0):
        raise InvalidInputError(f"a hold's ttl must be positive, got {ttl.total_seconds()} s")
    default = timedelta(seconds=longest or DEFAULT_HOLD_SECONDS)
    if ttl is None:
        return default
    return min(ttl, timedelta(seconds=longest)) if longest else ttl


def insert_hold(
    tx: Transaction,
    catalog: Catalog,
    *,
    account_id: str,
    project_id: str | None,
    decision: Decision,
    now: datetime,
    ttl: timedelta | None,
) -> Decision:
    """Record the admitted hold and return the decision naming it."""
    reservation_id = new_id("rsv")
    expires_at = now + hold_ttl(catalog, decision.meter, ttl)
    tx.insert_reservation(
        ReservationRow(
            id=reservation_id,
            account_id=account_id,
            item=decision.meter,
            period=decision.period,
            project_id=project_id,
            quantity=decision.quantity,
            status="open",
            created_at=now,
            expires_at=expires_at,
            committed_quantity=None,
        )
    )
    return decision.but(
        reservation_id=reservation_id,
        extra={**decision.extra, "expires_at": expires_at.isoformat()},
    )


def sweep(tx: Transaction, account_id: str, now: datetime) -> int:
    """Release every lapsed hold of the account (C6); the number released."""
    lapsed = sorted(tx.expire_reservations(account_id, now), key=lambda r: (r.item, r.id))
    for hold in lapsed:
        for scope in hold_scopes(hold.project_id):
            tx.adjust(account_id, hold.item, scope, hold.period, d_held=-hold.quantity)
    return len(lapsed)


def reservation_of(row: ReservationRow, decision: Decision | None) -> Reservation:
    return Reservation(
        id=row.id,
        account_id=row.account_id,
        meter=row.item,
        quantity=row.quantity,
        project_id=row.project_id,
        status=row.status,
        expires_at=row.expires_at,
        decision=decision,
    )


class Holds:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @decided_again_on_conflict
    def commit(self, reservation_id: str, quantity: int | None = None) -> Decision:
        """Record the hold's actual quantity (D6); the rest of the hold is released."""
        if quantity is not None and (
            not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0
        ):
            raise InvalidInputError(
                f"quantity must be a whole number of at least 0, got {quantity!r}"
            )
        lapsed = False
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            row = self._open_hold(tx, reservation_id)
            if row.expires_at <= now:
                sweep(tx, row.account_id, now)
                lapsed = True
            else:
                decision = self._commit(tx, row, row.quantity if quantity is None else quantity)
        if lapsed:
            raise _expired(row)
        return decision

    def _commit(self, tx: Transaction, row: ReservationRow, quantity: int) -> Decision:
        now = self.ctx.now()
        state = self.ctx.state(tx, row.account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        tx.close_reservation(row.id, "committed", quantity)
        plan = plan_request(
            catalog,
            state,
            row.item,
            quantity,
            period_key=row.period,
            project_id=row.project_id if row.project_id in state.projects else None,
        )
        account_after = Totals()
        overage = 0
        for scope in hold_scopes(row.project_id):
            after = tx.adjust(
                row.account_id, row.item, scope, row.period, d_used=quantity, d_held=-row.quantity
            )
            if scope == ACCOUNT_SCOPE:
                overage = overage_delta(plan.primary, after.used, quantity)
                if overage:
                    after = tx.adjust(
                        row.account_id, row.item, scope, row.period, d_overage=overage
                    )
                account_after = after
        decision = classify_admitted(
            plan, account_after, overage, now, catalog.policies.near_limit_percent
        )
        excess = max(0, quantity - row.quantity)
        extra = {**decision.extra, "held": row.quantity}
        warnings = decision.warnings
        if excess:
            extra["excess_units"] = excess
            warnings = (*warnings, f"{excess} {row.item} recorded beyond the {row.quantity} held")
        return decision.but(
            message="hold committed",
            reservation_id=row.id,
            warnings=warnings,
            extra=extra,
        )

    @decided_again_on_conflict
    def release(self, reservation_id: str) -> Reservation:
        """Give the held units back; releasing a lapsed or released hold changes nothing."""
        with self.ctx.store.transaction() as tx:
            row = tx.reservation(reservation_id, lock=True)
            if row is None:
                raise NotFoundError(f"no reservation {reservation_id!r}")
            if row.status == "committed":
                raise ReservationClosedError(
                    f"reservation {reservation_id} was already committed",
                    reservation_id=reservation_id,
                )
            if row.status == "open" and tx.close_reservation(row.id, "released"):
                for scope in hold_scopes(row.project_id):
                    tx.adjust(row.account_id, row.item, scope, row.period, d_held=-row.quantity)
                row = replace(row, status="released")
            return reservation_of(row, None)

    def _open_hold(self, tx: Transaction, reservation_id: str) -> ReservationRow:
        row = tx.reservation(reservation_id, lock=True)
        if row is None:
            raise NotFoundError(f"no reservation {reservation_id!r}")
        if row.status == "expired":
            raise _expired(row)
        if row.status != "open":
            raise ReservationClosedError(
                f"reservation {reservation_id} is already {row.status}",
                reservation_id=reservation_id,
                status=row.status,
            )
        return row


def _expired(row: ReservationRow) -> ReservationExpiredError:
    return ReservationExpiredError(
        f"reservation {row.id} expired at {row.expires_at.isoformat()}; its units were released",
        reservation_id=row.id,
        expires_at=row.expires_at.isoformat(),
    )
