"""Alerts and the budget guard (C8, D25, D26).

Other services fire and resolve the payment alerts inside their own transaction with
``services.alerts.service.payment_failed_in(tx, account_id, at, reference=…)`` and
``payment_recovered_in(tx, account_id, at)``.
"""
