"""Collecting finalized invoices and dunning (D10, D29)."""
