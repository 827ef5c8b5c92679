"""A store whose chosen calls fail or wait: a fault below every check of the engine.

It wraps a real store, which the test opens and hands to the engine (``Engine.on``, or
``open_engine(..., wrap_store=faults.around)``), and passes every call through except the ones the
test chose: a port's method (``"movements.claim_payout"``) called with arguments a predicate
accepts, or the opening of a unit of work. So a test stops a run between two of its
transactions, or makes one account's call fail, as a dying process or a broken row would,
without reaching into the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, cast

from meterstack.store.ports import Store, UnitOfWork

#: Where a unit of work opens: the fault fires before the real store opens it.
OPENING = "transaction"


class Fault:
    """One chosen call: it raises ``error`` (or waits for ``release``) when ``when`` accepts its
    arguments, at most ``times`` times (None: every time)."""

    def __init__(
        self,
        call: str,
        *,
        error: BaseException | None,
        release: threading.Event | None,
        when: Callable[..., bool],
        times: int | None,
    ) -> None:
        self.call = call
        self.error = error
        self.release = release
        self.when = when
        self.times = times
        #: The arguments of the calls it fired on, in order.
        self.fired: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def fire(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        with self._lock:
            if self.times is not None and len(self.fired) >= self.times:
                return
            if not self.when(*args, **kwargs):
                return
            self.fired.append(args)
        if self.release is not None and not self.release.wait(30):
            raise TimeoutError(f"{self.call} was held 30 s and never released")
        if self.error is not None:
            raise self.error


class FaultyStore:
    """A :class:`~meterstack.store.ports.Store` passing through to ``inner`` but for its faults."""

    def __init__(self, inner: Store | None = None) -> None:
        self._inner = inner
        self.faults: list[Fault] = []

    def around(self, inner: Store) -> FaultyStore:
        """This wrapper, around ``inner`` (as ``open_engine``'s ``wrap_store``)."""
        self._inner = inner
        return self

    @property
    def inner(self) -> Store:
        assert self._inner is not None, "a FaultyStore wraps a store: FaultyStore(store)"
        return self._inner

    @property
    def backend(self) -> str:
        return self.inner.backend

    def close(self) -> None:
        self.inner.close()

    def fail(
        self,
        call: str,
        error: BaseException,
        *,
        when: Callable[..., bool] = lambda *args, **kwargs: True,
        times: int | None = 1,
    ) -> Fault:
        """``call`` (``"port.method"``, or :data:`OPENING`) raises ``error``."""
        return self._add(Fault(call, error=error, release=None, when=when, times=times))

    def hold(
        self,
        call: str,
        release: threading.Event,
        *,
        when: Callable[..., bool] = lambda *args, **kwargs: True,
        times: int | None = 1,
    ) -> Fault:
        """``call`` waits until ``release`` is set, then goes on."""
        return self._add(Fault(call, error=None, release=release, when=when, times=times))

    def _add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def faults_of(self, call: str) -> list[Fault]:
        return [fault for fault in self.faults if fault.call == call]

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        for fault in self.faults_of(OPENING):
            fault.fire((), {})
        return _Unit(self, self.inner.transaction())


class _Unit:
    def __init__(self, store: FaultyStore, inner: AbstractContextManager[UnitOfWork]) -> None:
        self.store = store
        self.inner = inner

    def __enter__(self) -> UnitOfWork:
        return cast(UnitOfWork, _Ports(self.store, self.inner.__enter__()))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self.inner.__exit__(kind, error, traceback)


class _Ports:
    """A unit of work whose ports are the real ones, or wrapped where a fault is set."""

    def __init__(self, store: FaultyStore, tx: UnitOfWork) -> None:
        self.store = store
        self.tx = tx

    def __getattr__(self, name: str) -> Any:
        port = getattr(self.tx, name)
        if any(fault.call.startswith(f"{name}.") for fault in self.store.faults):
            return _Port(self.store, name, port)
        return port


class _Port:
    def __init__(self, store: FaultyStore, name: str, port: Any) -> None:
        self.store = store
        self.name = name
        self.port = port

    def __getattr__(self, method: str) -> Any:
        real = getattr(self.port, method)
        faults = self.store.faults_of(f"{self.name}.{method}")
        if not faults:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            for fault in faults:
                fault.fire(args, kwargs)
            return real(*args, **kwargs)

        return call
