"""Outgoing webhooks (D28): an outbox written with its cause, signed deliveries, retries.

Services announce events with :func:`~meterstack.webhooks.outbox.publish` inside their own
transaction; :class:`~meterstack.webhooks.service.Webhooks` (``engine.webhooks``) manages
endpoints, lists events and attempts, replays, and runs the delivery worker. The event types
and the schema of each payload are in :mod:`meterstack.webhooks.catalogue`.
"""
