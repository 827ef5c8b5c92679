"""Holds (D6): units reserved against the limits, then committed, released, or lapsed (C6).

A hold counts in ``held`` of every scope it touches while it is open. Committing moves the actual
quantity to ``used`` unconditionally (the work already happened): more than held is recorded past
the limit, flagged, and is overage where overage is on. A hold past its expiry releases itself:
the next request that meets a bound sweeps the account's lapsed holds, and a commit after expiry
is refused with 409 ``reservation_expired``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from meterstack.bounds import check_range
from meterstack.catalog.schema import Catalog
from meterstack.errors import (
    InvalidInputError,
    NotFoundError,
    OutOfRangeError,
    ReservationClosedError,
    ReservationExpiredError,
)
from meterstack.rules.admission import (
    ACCOUNT_SCOPE,
    AdmissionPlan,
    Step,
    classify_admitted,
    increment_before,
    plan_request,
    project_scope,
)
from meterstack.rules.decisions import Decision
from meterstack.rules.history import UsageMark
from meterstack.rules.terms import AccountState
from meterstack.services.alerts.service import Alerts
from meterstack.services.conflicts import decided_again_on_conflict
from meterstack.services.context import ServiceContext
from meterstack.services.express import Planned
from meterstack.store.ports import Admission, Applied, Recordable, UnitOfWork
from meterstack.store.rows import ReservationRow

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


def released(holds: Sequence[ReservationRow]) -> tuple[Step[int], ...]:
    """The steps that give the units of ``holds`` back, merged per counter, in lock order."""
    units: dict[tuple[str, str, str], int] = {}
    for hold in holds:
        for scope in hold_scopes(hold.project_id):
            counter = (hold.item, hold.period, scope)
            units[counter] = units.get(counter, 0) + hold.quantity
    return tuple(
        Step(item, scope, period, 0, -quantity)
        for (item, period, scope), quantity in sorted(units.items(), key=_lock_order)
    )


def _lock_order(entry: tuple[tuple[str, str, str], int]) -> tuple[str, str, bool, str]:
    item, period, scope = entry[0]
    return item, period, scope != ACCOUNT_SCOPE, scope


def sweep(tx: UnitOfWork, account_id: str, now: datetime) -> int:
    """Release every lapsed hold of the account (C6); the number released."""
    lapsed = tx.reservations.expire(account_id, now)
    if lapsed:
        outcome = tx.counters.apply(Admission.plain(account_id, released(lapsed)))
        assert isinstance(outcome, Applied), "a lapsed hold's units are always held"
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
    def __init__(self, ctx: ServiceContext, alerts: Alerts | None = None) -> None:
        self.ctx = ctx
        self.alerts = alerts

    @decided_again_on_conflict
    def commit(self, reservation_id: str, quantity: int | None = None) -> Decision:
        """Record the hold's actual quantity (D6); the rest of the hold is released."""
        if quantity is not None and (
            not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0
        ):
            raise InvalidInputError(
                f"quantity must be a whole number of at least 0, got {quantity!r}"[:200]
            )
        if quantity is not None:
            check_range("quantity", quantity, 0)
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

    def _commit(self, tx: UnitOfWork, row: ReservationRow, quantity: int) -> Decision:
        """Move the hold to ``used``: its actual quantity, past the limit if need be (D6)."""
        now = self.ctx.now()
        state = self.ctx.state(tx, row.account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        tx.reservations.close(row.id, "committed", quantity)
        plan = plan_request(
            catalog,
            state,
            row.item,
            quantity,
            period_key=row.period,
            project_id=row.project_id if row.project_id in state.projects else None,
        )
        overage_from = plan.primary.overage_from
        steps: tuple[Step[Any], ...] = tuple(
            Step(
                row.item,
                scope,
                row.period,
                quantity,
                -row.quantity,
                None,
                overage_from if scope == ACCOUNT_SCOPE else None,
            )
            for scope in hold_scopes(row.project_id)
        )
        # The committed units are the usage the history keeps (D27); the hold itself was not.
        marks = (
            (UsageMark(row.item, row.project_id, quantity, period=row.period),)
            if self.ctx.usage_history
            else ()
        )
        planned = self._planned(tx, plan, catalog, state, row)
        if planned is not None and planned.priced:
            # The period's charges (D26) move with the committed units, unbounded: the work was
            # done (D6), so a budget cannot refuse it.
            assert planned.charges is not None
            steps = (*steps, planned.charges.step._replace(bound=None))
        admission: Admission[Recordable] = Admission(row.account_id, steps, at=now, usage=marks)
        outcome = tx.counters.apply(admission)
        if not isinstance(outcome, Applied):
            # A commit has no bound but the store's range: past it, refused (nothing changes).
            raise OutOfRangeError(
                f"{row.item}: {quantity:,} more would take the counter past the store's range",
                meter=row.item,
            )
        if planned is not None and self.alerts is not None:  # what the commit fired (D25)
            watcher = self.alerts.watcher
            watch = watcher.watch(tx, row.account_id, planned.version)
            first = increment_before(steps[0], outcome.totals[0])
            charges = outcome.totals[-1].used if planned.priced else None
            found = watcher.notices(
                watch, planned, first, outcome.totals[0], [(0, quantity)], charges
            )
            watcher.record(tx, [(row.account_id, notice) for notice in found], now)
        decision = classify_admitted(
            plan, outcome.totals[0], now, catalog.policies.near_limit_percent
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

    def _planned(
        self,
        tx: UnitOfWork,
        plan: AdmissionPlan,
        catalog: Catalog,
        state: AccountState,
        row: ReservationRow,
    ) -> Planned | None:
        """The commit as the alerts see it: its plan, period and charges step."""
        if self.alerts is None:
            return None
        period = self.ctx.period(catalog, state, row.created_at)
        watch = self.alerts.watcher.watch(tx, row.account_id, state.version)
        charges = self.alerts.charges_terms(tx, watch, catalog, state, row.item, period)
        return Planned(plan, catalog, period, state.version, True, state.pending_at, charges)

    @decided_again_on_conflict
    def release(self, reservation_id: str) -> Reservation:
        """Give the held units back; releasing a lapsed or released hold changes nothing."""
        with self.ctx.store.transaction() as tx:
            row = tx.reservations.get(reservation_id, lock=True)
            if row is None:
                raise NotFoundError(f"no reservation {reservation_id!r}")
            if row.status == "committed":
                raise ReservationClosedError(
                    f"reservation {reservation_id} was already committed",
                    reservation_id=reservation_id,
                )
            if row.status == "open" and tx.reservations.close(row.id, "released"):
                outcome = tx.counters.apply(Admission.plain(row.account_id, released([row])))
                assert isinstance(outcome, Applied), "an open hold's units are held"
                row = replace(row, status="released")
            return reservation_of(row, None)

    def _open_hold(self, tx: UnitOfWork, reservation_id: str) -> ReservationRow:
        row = tx.reservations.get(reservation_id, lock=True)
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
