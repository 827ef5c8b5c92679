"""Alerts and the budget guard (C8, D25, D26).

Other services fire and resolve the payment alerts inside their own transaction:
``Alerts.payment_failed_in(tx, account_id, at)`` and ``Alerts.payment_recovered_in(...)``.
"""
