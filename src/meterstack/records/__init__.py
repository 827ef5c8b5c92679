"""The values the store keeps and the services speak in: invoices, wallet entries, webhook
events, collections, alerts, audit entries, and the payment provider's port with its values.

Plain values only (they may use the pure layers below: rules, catalog, money): the store imports
them to persist them, so nothing here may import the store or anything above it.
"""
