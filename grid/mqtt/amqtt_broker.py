"""The amqtt broker's child process: amqtt's own command line, with three amqtt 0.12 faults fixed.

Run as ``python -m grid.mqtt.amqtt_broker -c <config>`` (the options of amqtt's broker script).
All three hit when a whole grid reconnects at once, after a broker restart:

* **The subscription table changes under an iteration.** amqtt walks ``Broker._subscriptions``
  (a dict) across ``await``s: a connecting client gets the retained messages of every filter,
  one await per filter, and each broadcast awaits per subscriber. A SUBSCRIBE to a new filter
  meanwhile raises ``RuntimeError: dictionary changed size during iteration``. In the connect
  path that comes after the CONNACK and kills the connection's message loop only: the connection
  stays open and its session "connected", its SUBSCRIBEs are never answered and its QoS 1
  publishes are acknowledged but not delivered, until the client gives up on it. In the
  broadcast path the message is dropped. Iterating over a snapshot of the table removes both.
* **A take-over leaves the new connection deaf.** When a client reconnects while amqtt still
  holds its previous connection (one gridsim gave up on), amqtt moves the session to the new
  connection, and then the old connection's teardown marks that shared session disconnected:
  nothing is delivered to the live connection until amqtt's session monitor drops it. The old
  connection's teardown is made to leave a session it no longer owns alone (nor send its will:
  the client is back).
* **Every connecting client gets the retained messages of every filter**, its own or not (at
  QoS 0): a storm of unrequested messages just as the whole grid reconnects. A client gets
  those of its own subscriptions only (it gets them again on each SUBSCRIBE anyway).

The minimal reproductions are ``tests/grid/mqtt/test_amqtt_broker.py``.

:func:`install` applies all three; it refuses (:class:`BrokerStartError`) an amqtt it was not written
for, so a changed amqtt fails loudly rather than running half-patched.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import Any, TypeVar

from grid.errors import BrokerStartError

__all__ = ["SnapshotDict", "install", "main"]

_K = TypeVar("_K")
_V = TypeVar("_V")
_PATCHED = "_gridsim_patched"
_OWNER = "_gridsim_owner"  # set on an amqtt Session: the handler of its newest connection


class SnapshotDict(dict[_K, _V]):
    """A dict whose iterations walk a copy, so it may change while a coroutine iterates it."""

    def __iter__(self) -> Iterator[_K]:
        return iter(list(super().__iter__()))

    def keys(self) -> KeysView[_K]:  # type: ignore[override]  # a view of the copy
        return dict(super().items()).keys()

    def values(self) -> ValuesView[_V]:  # type: ignore[override]
        return dict(super().items()).values()

    def items(self) -> ItemsView[_K, _V]:  # type: ignore[override]
        return dict(super().items()).items()


def install() -> None:
    """Patch amqtt's :class:`~amqtt.broker.Broker` in this process (idempotent).

    Raises:
        BrokerStartError: amqtt is not 0.12, or its broker no longer has the patched parts.
    """
    version = importlib.metadata.version("amqtt")
    # The broker's own process only: gridsim itself never imports amqtt.
    from amqtt.broker import Broker
    from amqtt.events import BrokerEvents
    from amqtt.mqtt.disconnect import DisconnectPacket

    if not version.startswith("0.12.") or not all(
        hasattr(Broker, name)
        for name in (
            "_handle_client_session",
            "_handle_disconnect",
            "_publish_retained_messages_for_subscription",
            "_stop_handler",
        )
    ):
        raise BrokerStartError("amqtt", f"gridsim's fixes are for amqtt 0.12, not {version}")
    if getattr(Broker, _PATCHED, False):
        return
    init = Broker.__init__
    handle_client_session = Broker._handle_client_session
    publish_retained = Broker._publish_retained_messages_for_subscription

    def init_with_snapshots(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._subscriptions = SnapshotDict(self._subscriptions)

    async def _handle_client_session(self: Any, *args: Any) -> None:
        # (reader, writer, client_session, handler, server, listener_name): the newest connection
        # of a client id owns its session from here on, take-over or not.
        _, _, client_session, handler, *_ = args
        setattr(client_session, _OWNER, handler)
        await handle_client_session(self, *args)

    async def _handle_disconnect(self: Any, client_session: Any, handler: Any, waiter: Any) -> None:
        # amqtt 0.12's own, but a connection that was taken over neither sends the will (its
        # client is back) nor disconnects the session it shared with the new connection.
        def owns() -> bool:
            return getattr(client_session, _OWNER, handler) is handler

        result = waiter.result()
        if owns() and not isinstance(result, DisconnectPacket) and client_session.will_flag:
            topic, message, qos = (
                client_session.will_topic,
                client_session.will_message,
                client_session.will_qos,
            )
            await self._broadcast_message(client_session, topic, message, qos)
            if client_session.will_retain:
                await self.retain_message(client_session, topic, message, qos)
        await self._stop_handler(handler)
        if not owns():
            return
        client_session.transitions.disconnect()
        await self.plugins_manager.fire_event(
            BrokerEvents.CLIENT_DISCONNECTED,
            client_id=client_session.client_id,
            client_session=client_session,
        )

    async def _publish_retained_messages_for_subscription(self: Any, subscription: Any, session: Any) -> None:
        # Called on connect for every filter in the table, not just the client's own.
        subscribers = self._subscriptions.get(subscription[0], ())
        if any(subscriber.client_id == session.client_id for subscriber, _ in subscribers):
            await publish_retained(self, subscription, session)

    Broker.__init__ = init_with_snapshots
    Broker._publish_retained_messages_for_subscription = _publish_retained_messages_for_subscription
    Broker._handle_client_session = _handle_client_session
    Broker._handle_disconnect = _handle_disconnect
    setattr(Broker, _PATCHED, True)


def main() -> None:
    """amqtt's broker command line, on the patched broker."""
    install()
    from amqtt.scripts.broker_script import main as amqtt_main

    amqtt_main()


if __name__ == "__main__":
    main()
