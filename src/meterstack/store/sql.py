"""The SQL store: every port of ``store.ports`` on SQLite or PostgreSQL, by composition.

Services open a unit of work with :meth:`SqlStore.transaction`; it yields a
:class:`SqlTransaction`, whose attributes are the ports (``tx.counters``, ``tx.accounts``…),
each an adapter of one domain's SQL sharing the transaction's cursor. Every write of a unit of
work lands all or none. On SQLite the transaction is ``BEGIN IMMEDIATE`` (one writer at a time,
across processes); on PostgreSQL, row locks taken by the conditional writes serialize writers of
the same counter, and scopes are always locked in one fixed order.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from sqlalchemy.pool import QueuePool

from meterstack.errors import StoreUnavailableError, TransactionConflictError
from meterstack.store.access import SqlWebAccess
from meterstack.store.accounts import SqlAccounts
from meterstack.store.alerts import SqlAlerts
from meterstack.store.audit import SqlAuditLog
from meterstack.store.checkpoints import Checkpointer
from meterstack.store.collections import SqlCollections
from meterstack.store.counters import SqlCounters
from meterstack.store.dialect import (
    Dialect,
    StoreUrl,
    create_sql_engine,
    parse_store_url,
    sqlite_file_connection,
    store_timeout,
)
from meterstack.store.directory import SqlDirectory
from meterstack.store.history import SqlHistory
from meterstack.store.idempotency import SqlIdempotency
from meterstack.store.invoices import SqlInvoices
from meterstack.store.keys import SqlKeys
from meterstack.store.migrate import upgrade
from meterstack.store.movements import SqlMovements
from meterstack.store.outbox import SqlOutbox
from meterstack.store.payments import SqlPayments
from meterstack.store.ports import (
    Accounts,
    Alerts,
    AuditLog,
    Collections,
    Counters,
    Directory,
    Idempotency,
    Invoices,
    Keys,
    Movements,
    Outbox,
    Payments,
    Reservations,
    Resources,
    Subscriptions,
    UsageHistory,
    Wallets,
    WebAccess,
    WebhookEndpoints,
)
from meterstack.store.reservations import SqlReservations
from meterstack.store.resources import SqlResources
from meterstack.store.statements import Statements, conflict, unavailable
from meterstack.store.subscriptions import SqlSubscriptions
from meterstack.store.wallet import SqlWallet
from meterstack.store.watchdog import Watchdog
from meterstack.store.webhooks import SqlWebhookEndpoints

#: Where a pooled connection keeps its port adapters (built once per connection).
_PORTS = "meterstack.ports"
#: Where it keeps the cursor its units of work share.
_CURSOR = "meterstack.cursor"
#: Where a pooled PostgreSQL connection keeps its socket's file descriptor.
_SOCKET = "meterstack.socket"


@dataclass(frozen=True, slots=True)
class SqlTransaction:
    """The ports of one SQL transaction (``store.ports.UnitOfWork``); ``sql`` is the cursor
    they share, for the store's own maintenance and its tests."""

    sql: Statements
    counters: Counters
    idempotency: Idempotency
    history: UsageHistory
    reservations: Reservations
    accounts: Accounts
    subscriptions: Subscriptions
    resources: Resources
    keys: Keys
    invoices: Invoices
    payments: Payments
    outbox: Outbox
    webhooks: WebhookEndpoints
    access: WebAccess
    directory: Directory
    wallet: Wallets
    movements: Movements
    collections: Collections
    audit: AuditLog
    alerts: Alerts

    @classmethod
    def on(cls, dialect: Dialect) -> SqlTransaction:
        sql = Statements(None, dialect)
        idempotency = SqlIdempotency(sql)
        history = SqlHistory(sql)
        return cls(
            sql=sql,
            counters=SqlCounters(sql, idempotency, history),
            idempotency=idempotency,
            history=history,
            reservations=SqlReservations(sql),
            accounts=SqlAccounts(sql),
            subscriptions=SqlSubscriptions(sql),
            resources=SqlResources(sql),
            keys=SqlKeys(sql),
            invoices=SqlInvoices(sql),
            payments=SqlPayments(sql),
            outbox=SqlOutbox(sql),
            webhooks=SqlWebhookEndpoints(sql),
            access=SqlWebAccess(sql),
            directory=SqlDirectory(sql),
            wallet=SqlWallet(sql),
            movements=SqlMovements(sql),
            collections=SqlCollections(sql),
            audit=SqlAuditLog(sql),
            alerts=SqlAlerts(sql),
        )


@dataclass(frozen=True)
class PoolStatus:
    """A store's connections at one instant."""

    #: Open and ready for the next unit of work (the most recently used is taken first).
    idle: int
    #: Inside a unit of work now.
    in_use: int
    #: The most kept idle; a connection given back beyond it is closed.
    keep_idle: int


class SqlStore:
    """Persistence for SQLite and PostgreSQL: every port, one transaction at a time each."""

    def __init__(
        self, url: str, *, migrate: bool = True, pool_size: int = 20, timeout: float | None = None
    ) -> None:
        """``timeout`` (seconds) overrides the URL's ``?timeout=`` (default 5 s): how long a
        connection from the pool, a lock, a statement and, on PostgreSQL, a whole unit of work
        may wait for the database before it is 503 ``store_unavailable``."""
        parsed = parse_store_url(url)
        if timeout is not None:
            parsed = replace(parsed, timeout=store_timeout(timeout))
        self.url: StoreUrl = parsed
        self.engine = create_sql_engine(self.url, pool_size=pool_size)
        self.dialect = Dialect(self.url.backend)
        #: Deadlines of units of work (PostgreSQL: a hung link is not noticed by the driver).
        self.watchdog = None if self.dialect.is_sqlite else Watchdog(self.url.timeout)
        self._idle: list[Any] = []
        self._keep_idle = pool_size
        self._checkpointer: Checkpointer | None = None
        if self.dialect.is_sqlite and not self.url.memory:
            store_url = self.url
            self._checkpointer = Checkpointer(lambda: sqlite_file_connection(store_url))
        _forget_after_fork(self)
        if self.url.schema is not None:
            with self.engine.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.url.schema}"')
        if migrate:
            upgrade(self.engine)
        if self._checkpointer is not None:
            # A store dropped without close() does not leave its thread behind.
            weakref.finalize(self, self._checkpointer.stop)
            self._checkpointer.ensure_running()

    @property
    def backend(self) -> str:
        return self.url.backend

    @property
    def checkpointer(self) -> Checkpointer | None:
        """The thread checkpointing a SQLite file's log (None on PostgreSQL and in memory)."""
        return self._checkpointer

    def pool_status(self) -> PoolStatus:
        """The connections this store holds now, as a health page shows them."""
        pool = self.engine.pool
        held = pool.checkedout() if isinstance(pool, QueuePool) else len(self._idle)
        idle = len(self._idle)
        return PoolStatus(idle=idle, in_use=max(held - idle, 0), keep_idle=self._keep_idle)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self.watchdog is not None:
            self.watchdog.close()
        self._drop_idle(close=True)
        self.engine.dispose()

    # A unit of work takes a pooled connection and gives it back. SQLAlchemy's pool costs more
    # per checkout than a whole SQLite transaction, so connections that were checked out once
    # stay checked out in a LIFO stash of this store (``list.pop``/``append`` are atomic); the
    # pool still opens, counts and finally closes them. A connection whose transaction could not
    # end (the server went away, the link broke) is invalidated: the pool replaces it.

    def _acquire(self) -> Any:
        try:
            return self._idle.pop()
        except IndexError:
            if self._checkpointer is not None:
                self._checkpointer.ensure_running()  # a forked child starts its own
            return self.engine.raw_connection()

    def _give_back(self, connection: Any, healthy: bool) -> None:
        if not healthy:
            # Whatever broke this one (a restart, a network cut) broke the idle ones as well.
            for broken in [connection, *self._drop_idle(close=False)]:
                broken.invalidate()
                broken.close()
        elif len(self._idle) < self._keep_idle:
            self._idle.append(connection)
        else:
            connection.close()

    def _drop_idle(self, *, close: bool) -> list[Any]:
        idle, self._idle = self._idle, []
        if close:
            for connection in idle:
                connection.close()
        return idle

    def transaction(self) -> SqlUnitOfWork:
        """One unit of work: commits when the block ends, rolls back if it raises.

        A database that cannot do the work (gone, unreachable, locked past the busy timeout)
        raises :class:`StoreUnavailableError` (503), with the driver's error as its cause.
        """
        return SqlUnitOfWork(self)


class SqlUnitOfWork:
    """``with store.transaction() as tx``: a connection, its transaction, and how it ends.

    A class rather than a generator: every request opens one, and this is the cheaper form.
    """

    __slots__ = ("_connection", "_cursor", "_store", "_token")

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def __enter__(self) -> SqlTransaction:
        store = self._store
        try:
            connection = store._acquire()
        except Exception as error:
            if unavailable(error):
                raise _domain_error(error) from error
            raise
        watchdog = store.watchdog
        self._token = None if watchdog is None else watchdog.watch(_socket_of(connection))
        # The ports and their cursor are made once per connection and live as long as it: a
        # cursor per unit of work cost a pool wrapper's call and a close on every request.
        info = connection.info
        ports: SqlTransaction | None = info.get(_PORTS)
        if ports is None:
            ports = info[_PORTS] = SqlTransaction.on(store.dialect)
            info[_CURSOR] = connection.cursor()
        cursor = ports.sql.cursor = info[_CURSOR]
        try:
            store.dialect.begin(cursor)
        except BaseException as error:
            self._end_deadline()
            # A SQLite connection is a file handle: a lock or I/O error does not break it.
            store._give_back(connection, store.dialect.is_sqlite)
            if unavailable(error):
                raise _domain_error(error) from error
            raise
        self._connection, self._cursor = connection, cursor
        return ports

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        store, connection, cursor = self._store, self._connection, self._cursor
        dialect = store.dialect
        healthy = dialect.is_sqlite
        try:
            if error is not None:
                # The block's error is the one to report; a rollback that fails too only says
                # the connection is gone.
                healthy = _rolled_back(connection, cursor, dialect)
                if self._end_deadline():
                    raise _timed_out(store) from error
                if unavailable(error):
                    raise _domain_error(error) from error
                return
            try:
                if dialect.is_sqlite:
                    cursor.execute("COMMIT")
                else:
                    connection.commit()
            except BaseException as failure:
                healthy = _rolled_back(connection, cursor, dialect)
                if self._end_deadline():
                    raise _timed_out(store) from failure
                if unavailable(failure):
                    raise _domain_error(failure) from failure
                raise
            healthy = True
        finally:
            if self._end_deadline():
                healthy = False  # its socket was shut down: the connection is gone
            store._give_back(connection, healthy)

    def _end_deadline(self) -> bool:
        """End this unit's deadline (once); whether it had passed."""
        token, self._token = self._token, None
        watchdog = self._store.watchdog
        return token is not None and watchdog is not None and watchdog.release(token)


def _socket_of(connection: Any) -> int:
    """The file descriptor of a pooled PostgreSQL connection's socket (kept per connection)."""
    fd: int | None = connection.info.get(_SOCKET)
    if fd is None:
        fd = connection.info[_SOCKET] = connection.dbapi_connection.pgconn.socket
    return fd


def _timed_out(store: SqlStore) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"the database did not answer within {store.url.timeout:g} s; nothing was recorded, or "
        "the outcome is unknown: retry with the same idempotency key",
        reason="timeout",
    )


def _domain_error(error: BaseException) -> StoreUnavailableError:
    if conflict(error):
        return TransactionConflictError(
            "the database undid the request to break a conflict with another; nothing was "
            "recorded: retry with the same idempotency key",
            reason=type(error).__name__,
        )
    return StoreUnavailableError(
        "the database could not complete the request; retry with the same idempotency key",
        reason=type(error).__name__,
    )


def _forget_after_fork(store: SqlStore) -> None:
    """A forked child must not share its parent's open connections: it opens its own."""
    reference = weakref.ref(store)

    def forget() -> None:
        alive = reference()
        if alive is not None:
            alive._drop_idle(close=False)

    if hasattr(os, "register_at_fork"):  # POSIX; where processes cannot fork, nothing to do
        os.register_at_fork(after_in_child=forget)


def _rolled_back(connection: Any, cursor: Any, dialect: Dialect) -> bool:
    """Roll back; False when that failed (the connection is unusable)."""
    try:
        _rollback(connection, cursor, dialect)
    except Exception:
        return False
    return True


def _rollback(connection: Any, cursor: Any, dialect: Dialect) -> None:
    if dialect.is_sqlite:
        if not connection.dbapi_connection.in_transaction:
            return
        cursor.execute("ROLLBACK")
    else:
        connection.rollback()


__all__ = ["SqlStore", "SqlTransaction", "SqlUnitOfWork"]
