"""Driving a paho client's socket from the asyncio loop, in batches.

aiomqtt drives paho one packet at a time: every readable event reads a single packet, in three or
more ``recv`` calls (paho reads the fixed header byte by byte), and every packet queued for
sending (each publish, each PUBACK) costs a thread-safe callback, an ``add_writer`` and a
``remove_writer``. At the fusion centre's rates that per-packet plumbing is a large share of its CPU.

A :class:`SocketDriver`, installed before connecting, replaces that plumbing:

- reads come from a 64 KiB buffer refilled by one ``recv``, and each readable event reads every
  complete packet there is (up to a cap, then it yields to the loop and goes on next pass);
- packets queued during a loop pass are written together at its end, and the socket is watched
  for writability only while the kernel's send buffer is full.

paho's packet parsing and state machine are unchanged; only the socket plumbing is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

__all__ = ["SocketDriver"]

_RECV_BYTES = 65536
# Packets read per readable event before yielding, so one busy connection cannot starve the
# loop's other work; the rest are read on the next pass.
_PACKETS_PER_PASS = 256


class _BufferedRecv:
    """paho's ``_sock_recv``, served from a buffer that one large ``recv`` refills."""

    __slots__ = ("_buffer", "_client", "_pos", "drained")

    def __init__(self, client: mqtt.Client) -> None:
        self._client = client
        self._buffer = b""
        self._pos = 0
        # Set when the kernel had nothing more to give: another readable event will come.
        self.drained = False

    def __call__(self, size: int) -> bytes:
        if self._pos >= len(self._buffer):
            sock: Any = self._client._sock
            if sock is None:
                raise ConnectionError("socket closed")
            try:
                data: bytes = sock.recv(_RECV_BYTES)
            except (BlockingIOError, ssl.SSLWantReadError):
                self.drained = True
                raise BlockingIOError from None
            except ssl.SSLWantWriteError:
                self.drained = True
                self._client._call_socket_register_write()
                raise BlockingIOError from None
            if not data:
                return data  # the peer closed: paho reports the lost connection
            self._buffer, self._pos = data, 0
        end = self._pos + size
        chunk = self._buffer[self._pos : end]
        self._pos = min(end, len(self._buffer))
        return chunk

    @property
    def empty(self) -> bool:
        return self._pos >= len(self._buffer)


# Packets whose completed write has no side effect in paho (QoS 0 publishes call on_publish, a
# DISCONNECT closes the socket): acknowledgements, and QoS 1/2 publishes, done only when acknowledged.
_ACKS = frozenset({mqtt.PUBACK, mqtt.PUBREC, mqtt.PUBREL, mqtt.PUBCOMP})


def _coalesce(client: mqtt.Client) -> None:
    """Join the queued packets at the head of paho's queue that need no write callback into one.

    One ``send`` then carries a whole pass's acknowledgements and publishes instead of one each:
    on loopback with TCP_NODELAY, every ``send`` is a trip through the TCP stack.
    """
    queue: Any = client._out_packet
    if len(queue) < 2:
        return
    taken: list[dict[str, Any]] = []
    while queue:
        packet = queue[0]
        kind = packet["command"] & 0xF0
        if packet["pos"] != 0 or not (kind in _ACKS or (kind == mqtt.PUBLISH and packet["qos"] > 0)):
            break
        taken.append(queue.popleft())
    if len(taken) == 1:
        queue.appendleft(taken[0])
    elif taken:
        queue.appendleft(_packet(b"".join(bytes(p["packet"]) for p in taken)))


def _packet(data: bytes) -> dict[str, Any]:
    # Written as an acknowledgement: paho does nothing more once it is out.
    return {
        "command": mqtt.PUBACK,
        "mid": 0,
        "qos": 0,
        "pos": 0,
        "to_process": len(data),
        "packet": data,
        "info": None,
    }


class SocketDriver:
    """Reads and writes one paho client's socket in batches, on the running loop.

    Install it on a client that aiomqtt has set up but not yet connected. ``on_error`` receives
    what paho raises from a read or a write (a broken pipe, say), as aiomqtt's callbacks would.
    """

    def __init__(self, client: mqtt.Client, on_error: Callable[[BaseException], None]) -> None:
        self._client = client
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._recv = _BufferedRecv(client)
        self._fd = -1
        self._flush_scheduled = False
        self._watching_write = False

    def install(self) -> None:
        """Take over aiomqtt's socket callbacks (before the connection opens)."""
        client: Any = self._client
        client._sock_recv = self._recv
        aiomqtt_open = client.on_socket_open

        def on_socket_open(paho: mqtt.Client, userdata: Any, sock: Any) -> None:
            aiomqtt_open(paho, userdata, sock)  # its add_reader and keepalive task, queued first
            self._loop.call_soon_threadsafe(self._take_reader, sock.fileno())

        client.on_socket_open = on_socket_open
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    def _take_reader(self, fd: int) -> None:
        if fd >= 0 and self._client.socket() is not None:
            self._fd = fd
            self._loop.add_reader(fd, self._on_readable)  # replaces aiomqtt's one-packet reader
            # aiomqtt's reader may have left packets in the buffer (a persistent session's queue
            # arrives right behind the CONNACK), which no readable event will announce.
            self._on_readable()

    def _on_readable(self) -> None:
        recv = self._recv
        try:
            for _ in range(_PACKETS_PER_PASS):
                recv.drained = False
                if self._client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                    return  # paho has closed the connection and told aiomqtt
                if recv.drained and recv.empty:
                    return
            # More may be buffered, which the kernel will not signal: read it next pass.
            self._loop.call_soon(self._on_readable)
        except Exception as exc:  # noqa: BLE001 - handed to the owner, as aiomqtt does
            self._on_error(exc)

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            self._schedule_flush()
        else:  # paho's connect() runs in an executor thread
            self._loop.call_soon_threadsafe(self._schedule_flush)

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            self._stop_watching_write()
        else:
            self._loop.call_soon_threadsafe(self._stop_watching_write)

    def _stop_watching_write(self) -> None:
        if self._watching_write:
            self._watching_write = False
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(self._fd)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        try:
            _coalesce(self._client)
            self._client.loop_write()
            sock = self._client.socket()
            if self._client.want_write() and not self._watching_write and sock is not None:
                # The kernel's send buffer is full: write the rest when it drains.
                self._watching_write = True
                self._fd = sock.fileno()
                self._loop.add_writer(self._fd, self._flush)
        except Exception as exc:  # noqa: BLE001 - handed to the owner, as aiomqtt does
            self._on_error(exc)
