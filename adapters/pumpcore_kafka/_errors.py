"""The adapter's errors."""

from __future__ import annotations


class KafkaDeliveryError(Exception):
    """A produced message was not delivered (after librdkafka's retries), or a flush timed out
    waiting for delivery reports: nothing of that flush is acknowledged."""
