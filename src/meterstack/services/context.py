"""What every service shares: the store, the clock, the stored catalogs and the account cache.

Cached account states carry the account's ``version``; every unit of work reads the version in
its own transaction and reloads the state when another process or server changed it, so a plan
change, an override or a pack applies at once everywhere (C7). A plan made from a cached state
without reading the version (the cache of plans, ``services.express``) hands the version to the
store's admission, which checks it in the same statement.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from meterstack.catalog.loader import LoadedCatalog, parse_catalog
from meterstack.catalog.schema import Catalog
from meterstack.clock import Clock
from meterstack.errors import CatalogConflictError, NotFoundError
from meterstack.rules.periods import Period, period_for
from meterstack.rules.terms import AccountState, with_priced_plan
from meterstack.store.ports import Store, UnitOfWork

#: Usage periods kept (one per period kind and anniversary anchor); past this, forgotten.
_MAX_PERIODS = 10_000
#: D7: idempotency keys are kept at least this long.
DEFAULT_IDEMPOTENCY_RETENTION = timedelta(days=35)


def new_id(prefix: str) -> str:
    """A fresh identifier with a readable prefix (``acct_…``, ``proj_…``).

    Twelve bytes of the operating system's randomness, as ``secrets.token_hex(12)`` reads
    them, without its three calls' layers: a wallet charge makes one per request.
    """
    return f"{prefix}_{os.urandom(12).hex()}"


@dataclass
class ServiceContext:
    store: Store
    clock: Clock
    #: The catalog new accounts subscribe to.
    current: LoadedCatalog
    idempotency_retention: timedelta = DEFAULT_IDEMPOTENCY_RETENTION
    #: Whether admitted usage lands in the hourly and daily history buckets (D27).
    usage_history: bool = True
    _catalogs: dict[str, Catalog] = field(default_factory=dict)
    _states: dict[str, AccountState] = field(default_factory=dict)
    _periods: dict[tuple[str, datetime | None], Period] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Applies an account's due period-end change (set by the subscriptions service).
    apply_due: Callable[[UnitOfWork, str, datetime], None] | None = None

    def now(self) -> datetime:
        return self.clock.now()

    # ------------------------------------------------------------------ catalogs

    def register_current(self) -> None:
        """Store the current catalog version; the same version with other content is refused."""
        loaded = self.current
        catalog = loaded.catalog
        with self.store.transaction() as tx:
            stored = tx.accounts.stored_catalog(catalog.catalog, catalog.version)
            if stored is not None and stored.content_hash != loaded.content_hash:
                raise CatalogConflictError(
                    f"catalog {catalog.catalog!r} version {catalog.version} is already stored "
                    "with different content; give the changed catalog a new version number",
                    catalog=catalog.catalog,
                    version=catalog.version,
                )
            if stored is None:
                tx.accounts.insert_catalog(
                    loaded.content_hash, catalog.catalog, catalog.version, loaded.text, self.now()
                )
        self._catalogs[loaded.content_hash] = catalog

    def catalog(self, tx: UnitOfWork, content_hash: str) -> Catalog:
        """The catalog version an account pinned, parsed once per process."""
        catalog = self._catalogs.get(content_hash)
        if catalog is not None:
            return catalog
        content = tx.accounts.catalog_content(content_hash)
        if content is None:
            raise NotFoundError(f"catalog version {content_hash[:12]} is not stored")
        catalog = parse_catalog(content, f"stored catalog {content_hash[:12]}").catalog
        with self._lock:
            self._catalogs[content_hash] = catalog
        return catalog

    # ------------------------------------------------------------------ accounts

    def state(self, tx: UnitOfWork, account_id: str) -> AccountState:
        """The account's state as of this transaction (reloaded when its version moved)."""
        state = self._current_state(tx, account_id)
        if self._due(state):
            assert self.apply_due is not None
            self.apply_due(tx, account_id, self.now())
            self.forget(account_id)
            state = self._current_state(tx, account_id)
        return state

    def _due(self, state: AccountState) -> bool:
        """Whether a downgrade or cancellation waits and its time has come (C7)."""
        return (
            self.apply_due is not None
            and state.pending_at is not None
            and state.pending_at <= self.now()
        )

    def cached_state(self, tx: UnitOfWork, account_id: str) -> tuple[AccountState, bool]:
        """The cached state without reading its version, and whether it was verified.

        A caller planning on an unverified state hands its version to the admission
        (``Admission.version``), and plans again on :meth:`state` when the store answers that
        it moved.
        """
        cached = self._states.get(account_id)
        if cached is not None and not self._due(cached):
            return cached, False
        return self.state(tx, account_id), True

    def forget(self, account_id: str) -> None:
        """Drop a state found stale, so that :meth:`state` reloads it."""
        with self._lock:
            self._states.pop(account_id, None)

    def _current_state(self, tx: UnitOfWork, account_id: str) -> AccountState:
        version = tx.accounts.version(account_id)
        if version is None:
            raise NotFoundError(f"no account {account_id!r}", account_id=account_id)
        cached = self._states.get(account_id)
        if cached is not None and cached.version == version:
            return cached
        state = tx.accounts.state(account_id)
        if state is None:
            raise NotFoundError(f"no account {account_id!r}", account_id=account_id)
        state = with_priced_plan(self.catalog(tx, state.catalog_hash), state)
        with self._lock:
            self._states[account_id] = state
        return state

    def changed(self, tx: UnitOfWork, account_id: str) -> None:
        """Record a change of the account's terms: every cache reloads it."""
        tx.accounts.bump_version(account_id)
        self.forget(account_id)

    def period(self, catalog: Catalog, state: AccountState, at: datetime | None = None) -> Period:
        """The usage period holding ``at`` (default now). The last one found per kind and
        anchor is kept: periods of one kind and anchor do not overlap, so it answers every
        instant it holds."""
        at = at or self.now()
        kind = catalog.policies.period
        anchor = None if kind == "calendar_month" else state.period_anchor
        kept = self._periods.get((kind, anchor))
        if kept is not None and kept.start <= at < kept.end:
            return kept
        period = period_for(kind, at, state.period_anchor)
        if len(self._periods) >= _MAX_PERIODS:
            self._periods.clear()
        self._periods[(kind, anchor)] = period
        return period
