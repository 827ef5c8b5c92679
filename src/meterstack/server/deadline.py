"""A deadline for receiving each request, so that a slow client cannot hold a connection.

uvicorn's ``timeout_keep_alive`` covers only the idle time between requests, and every byte
received cancels it: a client trickling one header byte per second keeps its connection (and,
with enough of them, the server) forever, and ASGI middleware never sees a request that is not
complete. These protocols (uvicorn's own, with one timer added) give every request
:data:`RECEIVE_SECONDS` from its first byte, or from the connection's opening, until its
headers and body have arrived; then the connection is closed. A request being answered, a
response being streamed and an idle keep-alive connection are not affected. They also send
every write at once (``TCP_NODELAY``) on every connection, see :func:`_no_delay`.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: Time a client has to send one whole request (headers and body).
RECEIVE_SECONDS = 5.0


class _ReceiveDeadline:
    """The timer, for a subclass of one of uvicorn's HTTP protocols (see the classes below)."""

    # Attributes of uvicorn's protocols this timer reads.
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _deadline: asyncio.TimerHandle | None = None

    def _receiving(self) -> bool:
        """Whether a request is on its way in: none parsed yet, its body still coming, or the
        previous one answered (new bytes start the next)."""
        cycle = self.cycle
        return cycle is None or cycle.more_body or cycle.response_complete

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(RECEIVE_SECONDS, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._receiving() and not self.transport.is_closing():
            self.transport.close()

    def _after_data(self) -> None:
        if self._receiving() and not self.transport.is_closing():
            self._arm()
        else:
            self._disarm()


class DeadlineH11Protocol(_ReceiveDeadline, H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each request."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._receiving():
            self._arm()  # from the first byte of a new request; not reset by later ones
        super().data_received(data)
        self._after_data()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # idle now: uvicorn's keep-alive timeout takes over

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def _no_delay(transport: asyncio.Transport) -> None:
    """Send each write at once (TCP_NODELAY), on every socket.

    asyncio sets it only on sockets it knows for TCP; the shared socket of ``--workers`` is made
    with protocol 0, so its connections kept Nagle's algorithm, and an answer written in two
    parts (head, then body) waited for the client's delayed acknowledgement: 40 ms a request.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
