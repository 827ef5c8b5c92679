"""Outgoing webhooks (D28): an outbox written with its cause, signed deliveries, retries.

Services announce events with :func:`~meterstack.services.webhooks.outbox.publish` inside their own
transaction; :class:`~meterstack.services.webhooks.service.Webhooks` (``engine.webhooks``) manages
endpoints, lists events and attempts, replays, and runs the delivery worker. The event types
and the schema of each payload are in :mod:`meterstack.services.webhooks.catalogue`.
"""
