"""PubSub, an in-process publish/subscribe registry, and PubSubTrigger, which fires on a message.

Rules:
1. ``publish`` calls the subscribers synchronously, in subscription order, with the message name
   as first argument (as asab's PubSub, which BSPump uses, does), then the published arguments.
2. A message carries no time, so a message makes the trigger due at once: ``next_fire_at()`` is
   ``float('-inf')`` until the executor fires it. Messages that arrive before the executor gets to
   fire coalesce into one firing; ``coalesced`` counts the extra ones.
3. Messages that arrive before ``start`` are ignored, as nothing fires before start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._base import Trigger

Subscriber = Callable[..., object]


class PubSub:
    """A registry of subscribers by message name; ``publish`` calls them at once.

    Subscribers are held by strong references (asab holds weak ones, which silently drops lambdas
    and local functions); call ``unsubscribe`` (or ``PubSubTrigger.close``) to let one go.

    Example:
        >>> pubsub = PubSub()
        >>> received = []
        >>> pubsub.subscribe("Tick!", lambda name, n: received.append((name, n)))
        >>> pubsub.publish("Tick!", 1)
        >>> pubsub.publish("Other!", 2)
        >>> received
        [('Tick!', 1)]
    """

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = {}

    def subscribe(self, message_name: str, callback: Subscriber) -> None:
        """Call ``callback(message_name, *args, **kwargs)`` on every publish of ``message_name``.

        Subscribing the same callback to the same message twice has no further effect.
        """
        callbacks = self._subscribers.setdefault(message_name, [])
        if callback not in callbacks:
            callbacks.append(callback)

    def unsubscribe(self, message_name: str, callback: Subscriber) -> None:
        """Stop calling ``callback`` for ``message_name``.

        Raises:
            ValueError: ``callback`` is not subscribed to ``message_name``.
        """
        callbacks = self._subscribers.get(message_name, [])
        if callback not in callbacks:
            raise ValueError(f"{callback!r} is not subscribed to {message_name!r}")
        callbacks.remove(callback)
        if not callbacks:
            del self._subscribers[message_name]

    def subscribers(self, message_name: str) -> tuple[Subscriber, ...]:
        """The callbacks subscribed to ``message_name``, in the order they are called."""
        return tuple(self._subscribers.get(message_name, ()))

    def publish(self, message_name: str, *args: Any, **kwargs: Any) -> None:
        """Call every subscriber of ``message_name`` now, in subscription order.

        The subscriber list is copied first, so a callback may subscribe or unsubscribe (itself or
        others) without changing who receives this message.

        Raises:
            ExceptionGroup: one or more subscribers raised; every subscriber was still called.
        """
        errors: list[Exception] = []
        for callback in tuple(self._subscribers.get(message_name, ())):
            try:
                callback(message_name, *args, **kwargs)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup(f"subscribers of {message_name!r} failed", errors)


class PubSubTrigger(Trigger):
    """Fire when a message is published on a ``PubSub``.

    Args:
        pubsub: the registry to listen on.
        message_name: the message to fire on, or several of them (as BSPump's ``message_types``).
        id: the trigger's id (BSPump-compatible keyword); defaults to the class name.

    Example:
        >>> pubsub = PubSub()
        >>> trigger = PubSubTrigger(pubsub, "Refresh!")
        >>> trigger.start(0.0)
        >>> trigger.next_fire_at() is None
        True
        >>> pubsub.publish("Refresh!")
        >>> pubsub.publish("Refresh!")
        >>> trigger.next_fire_at()  # due at once
        -inf
        >>> trigger.fire(3.0)
        >>> trigger.next_fire_at() is None, trigger.received, trigger.coalesced
        (True, 2, 1)
    """

    def __init__(
        self, pubsub: PubSub, message_name: str | Iterable[str], id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.pubsub = pubsub
        names = (message_name,) if isinstance(message_name, str) else tuple(message_name)
        self.message_names: tuple[str, ...] = names
        #: Messages received since start.
        self.received = 0
        #: Messages that arrived while a firing was already pending and were merged into it.
        self.coalesced = 0
        self._due: float | None = None
        self._closed = False
        for name in self.message_names:
            pubsub.subscribe(name, self._on_message)

    def _on_message(self, message_name: str, *args: Any, **kwargs: Any) -> None:
        if self._started_at is None:
            return
        self.received += 1
        if self._due is not None:
            self.coalesced += 1
        # A message has no time of its own: -inf sorts before every real time, "due at once".
        self._due = float("-inf")

    def start(self, now: float) -> None:
        """Start listening. Restarting forgets a pending message and the counters."""
        super().start(now)
        self._due = None
        self.received = 0
        self.coalesced = 0

    def next_fire_at(self) -> float | None:
        """``float('-inf')`` while a message is pending, else None."""
        return self._due

    def fire(self, now: float) -> None:
        """Clear the pending message(s).

        Raises:
            RuntimeError: the trigger was not started.
        """
        if self._started_at is None:
            raise RuntimeError(f"{self!r} fired before start()")
        self._due = None

    def close(self) -> None:
        """Unsubscribe from the ``PubSub``; the trigger never fires again. Idempotent."""
        for name in self.message_names:
            if self._on_message in self.pubsub.subscribers(name):
                self.pubsub.unsubscribe(name, self._on_message)
        self._due = None
        self._closed = True

    def finished(self) -> bool:
        """True after ``close``."""
        return self._closed
